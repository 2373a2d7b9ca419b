#pragma once
// TempDir: a directory of one test's own under /tmp, made when the TempDir is constructed
// and removed, with everything in it, when it is destroyed. Header-only, for tests.
// As a fixture's first member it outlives the members that use files in it.

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace airlock::test {

class TempDir {
 public:
  // Makes /tmp/<prefix>-XXXXXX. Throws if it cannot, which GoogleTest reports as a
  // failure of the test.
  explicit TempDir(std::string_view prefix) {
    std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("cannot make a temporary directory " + tmpl);
    }
    path_ = std::move(tmpl);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace airlock::test
