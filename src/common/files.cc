#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace airlock {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    std::string message = "cannot open " + path + ": " + ErrnoText(err);
    if (err == ENOENT) return NotFound(std::move(message));
    return Unavailable(std::move(message));
  }
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Unavailable("cannot read " + path + ": " + ErrnoText(err));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      ::close(fd);
      return std::unexpected(
          Error(ErrorCode::kResourceExhausted,
                path + " is larger than " + std::to_string(max_bytes) + " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<void> WriteNewFile(const std::string& path, std::string_view data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST) return AlreadyExists(path + " already exists; refusing to overwrite it");
    return Unavailable("cannot create " + path + ": " + ErrnoText(err));
  }
  // The umask may have narrowed `mode`; a secret file must never be wider than asked, and
  // fchmod makes it exactly `mode`.
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return Unavailable("cannot set the mode of " + path + ": " + ErrnoText(err));
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return Unavailable("cannot write " + path + ": " + ErrnoText(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return Unavailable("cannot write " + path + ": " + ErrnoText(err));
  }
  return {};
}

std::string SelfExecutable() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

std::string SelfExecutableDirectory() {
  std::string exe = SelfExecutable();
  size_t slash = exe.rfind('/');
  return slash == std::string::npos ? std::string() : exe.substr(0, slash);
}

std::string PathBesideSelf(std::string_view name) {
  return SelfExecutableDirectory() + "/" + std::string(name);
}

Error ExecBesideSelf(std::string_view name, const std::vector<std::string>& args) {
  const std::string path = PathBesideSelf(name);
  std::vector<char*> argv = {const_cast<char*>(path.c_str())};
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  execv(path.c_str(), argv.data());
  return Error(ErrorCode::kInternal, "execv(" + path + "): " + std::strerror(errno));
}

}  // namespace airlock
