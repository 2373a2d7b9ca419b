#pragma once
// For tests that read raw HTTP/1.1 responses off a socket. Header-only.

#include <cstddef>
#include <string>
#include <string_view>

namespace airlock::test {

// The length of the first whole response at the start of `received` (its headers and a
// body of its Content-Length, none without one), or 0 while it is incomplete.
inline size_t CompleteResponseLength(std::string_view received) {
  const size_t header_end = received.find("\r\n\r\n");
  if (header_end == std::string_view::npos) return 0;
  size_t body = 0;
  const size_t cl = received.find("Content-Length: ");
  if (cl != std::string_view::npos && cl < header_end) {
    body = std::stoul(std::string(received.substr(cl + 16, header_end - cl - 16)));
  }
  const size_t total = header_end + 4 + body;
  return received.size() >= total ? total : 0;
}

}  // namespace airlock::test
