#pragma once
// Executable Dag files: a file of the bundle with an execute bit (any language: a Python
// script with a shebang, a compiled program) that prints on stdout, as JSON, what a YAML Dag
// file holds — one Dag object, or a list of them.
//
// RunExecutableDagFile runs one such file as Dag authors' code must be run: in a child
// started by the supervisor's launcher (supervisor::Spawn) with the same hardening as a
// task — own session, scrubbed environment (allow-list only: no token, no configuration),
// no fds but stdout and stderr pipes, PR_SET_PDEATHSIG, no_new_privs, optionally another
// Unix user — and limits on what it may cost: a wall-clock timeout, RLIMIT_AS, RLIMIT_CPU,
// RLIMIT_FSIZE, and a cap on the bytes it prints. The caller makes itself non-dumpable first
// (supervisor::MakeNonDumpable), so the child cannot read its memory or environ.
//
// ParseJsonDags reads the output strictly (RFC 8259, no duplicate names, bounded depth) and
// puts each Dag through the very rules a YAML file goes through (dags::ParseYamlDag: unknown
// keys refused, ValidateDag), so an executable file can describe nothing a YAML file cannot.
//
// Not thread-safe in one respect only: RunExecutableDagFile blocks its thread until the
// child has ended (or been killed) and reaps it with waitpid.

#include <sys/resource.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "dags/dag.h"
#include "supervisor/environment.h"
#include "supervisor/spawn.h"

namespace airlock::dag_processor {

struct ExecutableLimits {
  // [dag_processor] file_parsing_timeout: the whole process group is killed after it.
  std::chrono::milliseconds timeout{30000};
  // [dag_processor] max_output_bytes: a file that prints more is killed at once; what it
  // printed is discarded (memory stays bounded by this number).
  size_t max_output_bytes = 4 << 20;
  // RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE; 0 = not limited.
  rlim_t address_space_bytes = rlim_t{1} << 30;
  rlim_t cpu_seconds = 60;
  rlim_t file_size_bytes = 16 << 20;
};

struct ExecutableRunOptions {
  ExecutableLimits limits;
  // Run as this user (needs root unless it is the current one); nullopt: as this process.
  std::optional<supervisor::UnixUser> user;
  // Where PATH, LANG, LC_ALL and TZ are taken from; nothing else of it is passed.
  supervisor::EnvironmentMap parent_environment;
  // The child's working directory (the bundle's root); empty = "/".
  std::string cwd;
};

// Bytes of stderr kept (the last ones) for an import error's stack trace.
inline constexpr size_t kMaxStderrTail = 16 << 10;

// Runs `path` with no arguments. On exit code 0 returns what it printed on stdout.
// Otherwise InvalidArgument, whose message says what happened, one sentence first
// ("timed out after 30 s and was killed", "exited with code 2", "was killed by SIGSEGV",
// "printed more than 4194304 bytes on stdout and was killed"), then the last
// kMaxStderrTail bytes of its stderr, if any, after a newline. Internal when the child
// could not be started (the launcher's "syscall(args): errno" message).
Result<std::string> RunExecutableDagFile(const std::string& path,
                                         const ExecutableRunOptions& options);

// The Dags `text` describes: one JSON object, or a non-empty array of objects, each with the
// keys of a YAML Dag file. InvalidArgument naming `file_name` and the problem (for a list,
// the index of the Dag too). Fills nothing about the bundle.
Result<std::vector<dags::DagSpec>> ParseJsonDags(std::string_view text, std::string_view file_name);

}  // namespace airlock::dag_processor
