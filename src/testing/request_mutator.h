#pragma once
// RequestMutator: a deterministic stream of hostile variations of a valid HTTP request's
// target and body, for tests that check that whatever a caller sends is answered with a
// clear 4xx (or accepted) and that a refused request changes nothing. Header-only.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace airlock::test {

class RequestMutator {
 public:
  explicit RequestMutator(uint32_t seed) : random_(seed) {}

  // A number from 0 to n - 1 (n > 0).
  size_t Below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(random_); }

  template <class List>
  const auto& Pick(const List& list) {
    return list[Below(list.size())];
  }

  // A copy of one of `bases` (each with a `method`, `target` and `body`), mutated once or
  // twice; `what` tells which request and how, for a failure message.
  template <class Request>
  Request Next(const std::vector<Request>& bases, std::string& what) {
    Request r = Pick(bases);
    what = r.method + " " + r.target + ":";
    for (size_t n = 1 + Below(2); n > 0; --n) what += " " + Mutate(r.target, r.body);
    return r;
  }

  // Applies one mutation to `target` (an origin-form target a client can send) or `body`;
  // returns what it did, for a failure message.
  std::string Mutate(std::string& target, std::string& body) {
    switch (Below(6)) {
      case 0: {  // one byte of the body replaced
        if (body.empty()) return "no-op";
        const size_t at = Below(body.size());
        const char bytes[] = {'\0', '\xff', '"', '\\', '{', '}', ',', ':', '\x7f', 'x'};
        body[at] = bytes[Below(sizeof bytes)];
        return "byte " + std::to_string(at);
      }
      case 1:  // the body cut short
        body.resize(body.empty() ? 0 : Below(body.size()));
        return "cut";
      case 2:
        return ReplaceAValue(body);
      case 3: {  // a field added twice or an unknown one
        if (body.size() < 2 || body.front() != '{') return "no-op";
        const std::string field = Below(2) ? R"("pid":0,)" : R"("unknown":[1],)";
        body.insert(1, field);
        return "field " + field;
      }
      case 4: {  // a path segment replaced
        std::vector<size_t> slashes;
        for (size_t i = 1; i < target.size() && target[i] != '?'; ++i) {
          if (target[i] == '/') slashes.push_back(i);
        }
        if (slashes.empty()) return "no-op";
        const size_t start = Pick(slashes) + 1;
        size_t end = target.find_first_of("/?", start);
        if (end == std::string::npos) end = target.size();
        const std::string& segment = Pick(kSegments);
        target.replace(start, end - start, segment);
        return "segment " + segment.substr(0, 40);
      }
      default: {  // a query added
        const std::string& query = Pick(kQueries);
        target = target.substr(0, target.find('?')) + query;
        return "query " + query;
      }
    }
  }

 private:
  // One field's value replaced by one of another type or range (the whole body, when it is
  // not a JSON object with fields).
  std::string ReplaceAValue(std::string& body) {
    boost::system::error_code ec;
    boost::json::value parsed = boost::json::parse(body, ec);
    const std::string& value = Pick(kValues);
    if (ec || !parsed.is_object() || parsed.as_object().empty()) {
      body = value;
      return "body " + value.substr(0, 40);
    }
    boost::json::object& fields = parsed.as_object();
    auto it = std::next(fields.begin(), static_cast<std::ptrdiff_t>(Below(fields.size())));
    const std::string key(it->key());
    // Spliced in as text: some of the values are not valid JSON on purpose.
    it->value() = "\x01marker\x01";
    body = boost::json::serialize(parsed);
    const std::string marker = "\"\\u0001marker\\u0001\"";
    body.replace(body.find(marker), marker.size(), value);
    return key + "=" + value.substr(0, 40);
  }

  inline static const std::vector<std::string> kValues = {
      "null",
      "true",
      "[]",
      "{}",
      "0",
      "-1",
      "1e309",
      "-0",
      "99999999999999999999",
      "2147483648",
      "1.5",
      R"("")",
      R"("\u0000")",
      R"("\ud800")",
      "\"\xff\xfe\"",
      "\"" + std::string(5000, 'a') + "\"",
      std::string(40, '[') + std::string(40, ']'),
      R"("2027-02-30T25:61:00Z")",
      R"("running")",
      R"("success")"};
  inline static const std::vector<std::string> kSegments = {"",
                                                            "%00",
                                                            "..",
                                                            "%2e%2e",
                                                            "a%2Fb",
                                                            std::string(300, 'a'),
                                                            "%F0%9F%99%82",
                                                            "%FF",
                                                            "a%20b",
                                                            "0",
                                                            "-1",
                                                            "99999999999999999999"};
  inline static const std::vector<std::string> kQueries = {"?map_index=abc",
                                                           "?map_index=-2",
                                                           "?map_index=99999999999999999999",
                                                           "?map_index=",
                                                           "?map_index=1&map_index=2",
                                                           "?%00=1",
                                                           "?map_index=0x10",
                                                           "?map_index=%2B1",
                                                           "?limit=-1",
                                                           "?limit=99999999999",
                                                           "?offset=-5",
                                                           "?limit=abc&offset=%FF"};

  std::mt19937 random_;
};

// Whether an answer is one any request may get: 2xx, or 4xx with a JSON {"detail": …} body
// (never 5xx, never no answer).
inline ::testing::AssertionResult AnsweredCleanly(int status, const std::string& body) {
  if (status >= 200 && status < 400) return ::testing::AssertionSuccess();
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  if (status >= 400 && status < 500 && !ec && parsed.is_object() &&
      parsed.as_object().contains("detail")) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "answered " << status << " " << body.substr(0, 300);
}

}  // namespace airlock::test
