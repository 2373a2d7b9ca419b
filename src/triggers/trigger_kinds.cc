#include "triggers/trigger_kinds.h"

#include <boost/json.hpp>
#include <cmath>

#include "common/time_format.h"

namespace airlock::triggers {
namespace {

namespace json = boost::json;

// The fields of one kind's arguments, read one by one; Finish() refuses what is left.
class ArgsReader {
 public:
  ArgsReader(std::string_view kind, json::object args) : kind_(kind), args_(std::move(args)) {
    taken_.reserve(args_.size());  // Take() hands out pointers into it
  }

  const json::value* Take(std::string_view field) {
    auto it = args_.find(field);
    if (it == args_.end()) return nullptr;
    taken_.push_back(std::move(it->value()));
    args_.erase(it);
    return &taken_.back();
  }

  std::unexpected<Error> Bad(std::string_view field, std::string_view what) const {
    return InvalidArgument(std::string(kind_) + " trigger: '" + std::string(field) + "' " +
                           std::string(what));
  }

  // A number > 0 (seconds), or `fallback` when absent.
  Result<double> PositiveSeconds(std::string_view field, double fallback) {
    const json::value* v = Take(field);
    if (v == nullptr) return fallback;
    if (!v->is_number()) return Bad(field, "must be a number of seconds");
    double seconds = v->to_number<double>();
    if (!(seconds > 0) || !std::isfinite(seconds) || seconds > 86400) {
      return Bad(field, "must be more than 0 and at most 86400 seconds");
    }
    return seconds;
  }

  Result<void> Finish() const {
    if (args_.empty()) return {};
    return InvalidArgument(std::string(kind_) + " trigger: unknown field '" +
                           std::string(args_.begin()->key()) + "'");
  }

 private:
  std::string_view kind_;
  json::object args_;
  std::vector<json::value> taken_;
};

Result<TriggerArgs> ParseDateTime(ArgsReader& in, int64_t now) {
  const json::value* moment = in.Take("moment");
  const json::value* delay = in.Take("delay_seconds");
  if ((moment == nullptr) == (delay == nullptr)) {
    return InvalidArgument("datetime trigger: give exactly one of 'moment' and 'delay_seconds'");
  }
  DateTimeArgs args;
  if (moment != nullptr) {
    auto parsed = moment->is_string() ? ParseRfc3339(moment->as_string()) : std::nullopt;
    if (!parsed) return in.Bad("moment", "must be an RFC 3339 date-time");
    args.moment = *parsed;
  } else {
    if (!delay->is_number()) return in.Bad("delay_seconds", "must be a number of seconds");
    double seconds = delay->to_number<double>();
    if (!(seconds >= 0) || seconds > 366.0 * 86400) {
      return in.Bad("delay_seconds", "must be between 0 and one year");
    }
    args.moment = now + static_cast<int64_t>(std::ceil(seconds));
  }
  if (auto done = in.Finish(); !done) return std::unexpected(done.error());
  return args;
}

Result<TriggerArgs> ParseFile(ArgsReader& in) {
  const json::value* path = in.Take("path");
  if (path == nullptr || !path->is_string() || !path->as_string().starts_with("/")) {
    return in.Bad("path", "must be an absolute path");
  }
  FileArgs args{.path = std::string(path->as_string())};
  if (args.path.find('\0') != std::string::npos) return in.Bad("path", "must not contain NUL");
  auto interval = in.PositiveSeconds("poll_interval", args.poll_interval);
  if (!interval) return std::unexpected(interval.error());
  args.poll_interval = *interval;
  if (auto done = in.Finish(); !done) return std::unexpected(done.error());
  return args;
}

Result<TriggerArgs> ParseHttp(ArgsReader& in) {
  const json::value* url = in.Take("url");
  if (url == nullptr || !url->is_string() ||
      !(url->as_string().starts_with("http://") || url->as_string().starts_with("https://"))) {
    return in.Bad("url", "must be an http:// or https:// URL");
  }
  HttpArgs args{.url = std::string(url->as_string())};
  if (const json::value* status = in.Take("status")) {
    if (!status->is_int64() || status->as_int64() < 100 || status->as_int64() > 599) {
      return in.Bad("status", "must be an HTTP status code (100-599)");
    }
    args.status = static_cast<int>(status->as_int64());
  }
  auto interval = in.PositiveSeconds("poll_interval", args.poll_interval);
  if (!interval) return std::unexpected(interval.error());
  args.poll_interval = *interval;
  if (auto done = in.Finish(); !done) return std::unexpected(done.error());
  return args;
}

Result<TriggerArgs> ParseExec(ArgsReader& in) {
  const json::value* argv = in.Take("argv");
  if (argv == nullptr || !argv->is_array() || argv->as_array().empty()) {
    return in.Bad("argv", "must be a non-empty list of strings");
  }
  ExecArgs args;
  for (const json::value& item : argv->as_array()) {
    if (!item.is_string() || item.as_string().find('\0') != json::string::npos) {
      return in.Bad("argv", "must be a non-empty list of strings");
    }
    args.argv.emplace_back(item.as_string());
  }
  if (args.argv[0].empty()) return in.Bad("argv", "must start with a program");
  if (auto done = in.Finish(); !done) return std::unexpected(done.error());
  return args;
}

}  // namespace

std::string_view TriggerKindName(const TriggerArgs& args) {
  struct Name {
    std::string_view operator()(const DateTimeArgs&) const { return "datetime"; }
    std::string_view operator()(const FileArgs&) const { return "file"; }
    std::string_view operator()(const HttpArgs&) const { return "http"; }
    std::string_view operator()(const ExecArgs&) const { return "exec"; }
  };
  return std::visit(Name{}, args);
}

Result<TriggerArgs> ParseTriggerArgs(std::string_view kind, std::string_view args_json,
                                     int64_t now) {
  boost::system::error_code ec;
  json::value parsed = json::parse(args_json, ec);
  if (ec || !parsed.is_object()) {
    return InvalidArgument("trigger arguments must be a JSON object");
  }
  ArgsReader in(kind, std::move(parsed.as_object()));
  if (kind == "datetime") return ParseDateTime(in, now);
  if (kind == "file") return ParseFile(in);
  if (kind == "http") return ParseHttp(in);
  if (kind == "exec") return ParseExec(in);
  return InvalidArgument("unknown trigger kind '" + std::string(kind) +
                         "' (expected datetime, file, http or exec)");
}

std::string SerializeTriggerArgs(const TriggerArgs& args) {
  struct ToJson {
    json::object operator()(const DateTimeArgs& a) const {
      return {{"moment", FormatUtcSeconds(a.moment)}};
    }
    json::object operator()(const FileArgs& a) const {
      return {{"path", a.path}, {"poll_interval", a.poll_interval}};
    }
    json::object operator()(const HttpArgs& a) const {
      return {{"url", a.url}, {"status", a.status}, {"poll_interval", a.poll_interval}};
    }
    json::object operator()(const ExecArgs& a) const {
      json::array argv;
      for (const std::string& s : a.argv) argv.emplace_back(s);
      return {{"argv", std::move(argv)}};
    }
  };
  return json::serialize(std::visit(ToJson{}, args));
}

Result<std::string> NormalizeTriggerArgs(std::string_view kind, std::string_view args_json,
                                         int64_t now) {
  auto args = ParseTriggerArgs(kind, args_json, now);
  if (!args) return std::unexpected(args.error());
  return SerializeTriggerArgs(*args);
}

}  // namespace airlock::triggers
