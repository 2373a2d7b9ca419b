#include "config/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace airlock::config {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string ErrnoText(int err) { return std::strerror(err); }

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Resolves argv[0] before fork(): PATH search allocates, which a child of a threaded
// process must not do between fork() and exec().
Result<std::string> ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path_env = std::getenv("PATH");
  std::string_view path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find(':', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string dir(path.substr(pos, end - pos));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (IsExecutableFile(candidate)) return candidate;
    pos = end + 1;
  }
  return NotFound("program '" + name + "' not found in PATH");
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Kills the child's process group and the child, then reaps it.
void KillAndReap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

Result<std::vector<std::string>> SplitCommandLine(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (IsBlank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      size_t close = line.find('\'', i + 1);
      if (close == std::string_view::npos) return InvalidArgument("unterminated single quote");
      word.append(line.substr(i + 1, close - i - 1));
      i = close;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size() && (line[j + 1] == '"' || line[j + 1] == '\\')) {
          ++j;
        }
        word.push_back(line[j]);
      }
      if (j >= line.size()) return InvalidArgument("unterminated double quote");
      i = j;
    } else if (c == '\\') {
      if (i + 1 >= line.size()) return InvalidArgument("trailing backslash");
      word.push_back(line[++i]);
    } else {
      word.push_back(c);
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return InvalidArgument("empty command");
  return words;
}

Result<std::string> RunCommand(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout) {
  if (argv.empty()) return InvalidArgument("empty command");
  auto program = ResolveProgram(argv[0]);
  if (!program) return std::unexpected(program.error());

  // Everything the child touches is prepared here: after fork() it only calls
  // async-signal-safe functions.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int out[2] = {-1, -1};
  int err[2] = {-1, -1};  // exec failure channel: the child writes errno, exec closes it
  if (::pipe2(out, O_CLOEXEC) != 0) return Internal("pipe: " + ErrnoText(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    CloseFd(out[0]);
    CloseFd(out[1]);
    return Internal("pipe: " + ErrnoText(e));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    CloseFd(out[0]);
    CloseFd(out[1]);
    CloseFd(err[0]);
    CloseFd(err[1]);
    return Internal("fork: " + ErrnoText(e));
  }
  if (pid == 0) {
    // Own process group, so that a timeout kills whatever the command started too.
    ::setpgid(0, 0);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);  // the copy on fd 0 survives exec
    ::dup2(out[1], STDOUT_FILENO);                    // dup2 clears O_CLOEXEC on the new descriptor
    ::execve(program->c_str(), args.data(), environ);
    int e = errno;
    ssize_t ignored = ::write(err[1], &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  CloseFd(out[1]);
  CloseFd(err[1]);

  int exec_errno = 0;
  ssize_t n;
  while ((n = ::read(err[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
  }
  CloseFd(err[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    CloseFd(out[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return NotFound("cannot execute '" + argv[0] + "': " + ErrnoText(exec_errno));
  }

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
  };
  auto timed_out = [&] {
    CloseFd(out[0]);
    KillAndReap(pid);
    return std::unexpected(
        Error(ErrorCode::kDeadlineExceeded,
              "did not finish within " + std::to_string(timeout.count()) + " ms and was killed"));
  };

  std::string output;
  char buf[4096];
  for (;;) {
    pollfd pfd{out[0], POLLIN, 0};
    int ready = ::poll(&pfd, 1, remaining_ms());
    if (ready < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      CloseFd(out[0]);
      KillAndReap(pid);
      return Internal("poll: " + ErrnoText(e));
    }
    if (ready == 0) return timed_out();
    ssize_t got = ::read(out[0], buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      int e = errno;
      CloseFd(out[0]);
      KillAndReap(pid);
      return Internal("read: " + ErrnoText(e));
    }
    if (got == 0) break;
    output.append(buf, static_cast<size_t>(got));
    if (output.size() > kMaxCommandOutput) {
      CloseFd(out[0]);
      KillAndReap(pid);
      return std::unexpected(Error(
          ErrorCode::kResourceExhausted,
          "printed more than " + std::to_string(kMaxCommandOutput) + " bytes and was killed"));
    }
  }
  CloseFd(out[0]);

  // Stdout is closed; the command normally exits right after. A command that closes stdout
  // and keeps running is still bound by the deadline.
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Internal("waitpid: " + ErrnoText(errno));
    if (remaining_ms() == 0) return timed_out();
    ::poll(nullptr, 0, 5);
  }
  if (WIFSIGNALED(status)) {
    return FailedPrecondition("was killed by signal " + std::to_string(WTERMSIG(status)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return FailedPrecondition("exited with status " + std::to_string(WEXITSTATUS(status)));
  }
  if (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

}  // namespace airlock::config
