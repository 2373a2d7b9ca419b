// airlock-supervisor: the supervisor of one task instance (src/supervisor/supervisor.h).
// The local executor starts one per task instance with the workload JSON (SPEC §5) on stdin
// and a scrubbed environment; `airlock supervise` execs it. A separate executable rather
// than a command of `airlock` so that it links only what a worker may hold — config, http,
// the supervisor — and no store, no database client, no JWT keys and no REST API: each
// running task then maps a small binary and starts it quickly (SPEC §10).
// Two builds of this file: airlock-supervisor, whose HTTP client has no TLS (it then maps
// no OpenSSL, a quarter of its memory), and airlock-supervisor-tls. When the configured
// Execution API URL is https, airlock-supervisor execs airlock-supervisor-tls with the
// same arguments right after loading its configuration, before it reads anything from
// stdin (the workload stays on stdin for the new program).
//
// With --standby it is started before there is a task: it loads its configuration and
// warms the user lookup, then waits for a workload on stdin. The local executor keeps
// [core] standby_supervisors of them ready, so that a queued task does not wait for a
// process to start (SPEC §10: a queued task reaches exec in < 10 ms). It holds no secret until the
// workload arrives, and a standby whose stdin closes with no workload exits 0 silently.
// With --launch it is the launcher of a task that runs as another user through sudo
// (src/supervisor/launch.h): started by a supervisor, as `sudo -n -u USER -- airlock-supervisor
// --launch`, it reads the task's command and environment from the channel on stdin,
// starts the task and stays as its parent until it ends; it loads no configuration and
// holds nothing.
// Exit code: 0 when the task succeeded and that was reported (or a standby was not used);
// 1 otherwise (the reason is on stderr and in the task log); 2 on a usage error. With
// --launch: the task's own exit (or death by its signal), 127 if it could not start.

#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "common/files.h"
#include "config/process.h"
#include "http/client.h"
#include "supervisor/environment.h"
#include "supervisor/launch.h"
#include "supervisor/local_executor.h"
#include "supervisor/supervisor.h"

namespace {

using airlock::Result;

// A workload is a few hundred bytes; anything near this is not one.
constexpr size_t kMaxWorkloadBytes = 1 << 20;

Result<std::string> ReadStdin() {
  std::string input;
  char buf[4096];
  while (true) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return airlock::Internal(std::string("read(stdin): ") + std::strerror(errno));
    if (n == 0) break;
    input.append(buf, static_cast<size_t>(n));
    if (input.size() > kMaxWorkloadBytes) {
      explicit_bzero(input.data(), input.size());
      return airlock::InvalidArgument("workload on stdin is over 1 MiB");
    }
  }
  explicit_bzero(buf, sizeof buf);
  return input;
}

// The final state reported for the task (nullopt when a standby was released without a
// workload), or the error that stopped the supervisor.
Result<std::optional<std::string>> Run(const std::string& config_path, bool standby, int argc,
                                       char** argv) {
  namespace config = airlock::config;
  namespace supervisor = airlock::supervisor;
  // Before the token is read: the flag does not protect memory already written. (main()
  // already set it; this is the named step of SPEC §5, and it reports a failure.)
  if (auto made = supervisor::MakeNonDumpable(); !made) return std::unexpected(made.error());

  // The worker's configuration holds no secret, so it is read before the workload.
  auto context = config::StartComponent(config::Component::kWorker, config_path);
  if (!context) return std::unexpected(context.error());
  const config::Config& cfg = context->config;
  auto url = cfg.GetString("core", "execution_api_server_url");
  if (!url) return std::unexpected(url.error().WithContext("[core] execution_api_server_url"));
#ifdef AIRLOCK_SUPERVISOR_WITHOUT_TLS
  if (airlock::http::UsesTls(*url)) {
    // Replaced by the TLS build, with the same arguments; back here only if that failed.
    return std::unexpected(airlock::ExecBesideSelf(supervisor::kSupervisorTlsExecutable,
                                                   std::vector<std::string>(argv + 1, argv + argc))
                               .WithContext("the Execution API URL is https"));
  }
#else
  (void)argc;
  (void)argv;
#endif
  auto logs = cfg.GetPath("logging", "base_log_folder");
  if (!logs) return std::unexpected(logs.error().WithContext("[logging] base_log_folder"));
  auto ca_file = config::ExecutionApiCaFile(cfg);
  if (!ca_file) return std::unexpected(ca_file.error());
  auto impersonation = cfg.GetString("core", "default_impersonation");
  auto allow_root = cfg.GetBool("core", "allow_root_tasks");
  supervisor::SupervisorOptions options{
      .execution_api_url = *url,
      .base_log_folder = *logs,
      .default_impersonation = impersonation ? *impersonation : "",
      .allow_root_tasks = allow_root.value_or(false),
      .masker = context->masker,
      .parent_environment = supervisor::CurrentEnvironment(),
      // `airlock` is installed beside this executable; the task finds it on its PATH.
      .airlock_directory = airlock::SelfExecutableDirectory(),
  };
  options.http.ca_file = *ca_file;
  if (standby) {
    // Loads the user database's modules (NSS) now rather than on the task's path. The
    // answer is not kept: the task's own run_as_user is resolved when it arrives.
    (void)supervisor::ResolveTaskUser({.default_impersonation = options.default_impersonation,
                                       .allow_root_tasks = options.allow_root_tasks,
                                       .supervisor_euid = geteuid()});
  }

  auto input = ReadStdin();
  if (!input) return std::unexpected(input.error());
  if (standby && input->empty()) return std::nullopt;  // released unused
  auto workload = supervisor::ParseWorkload(*input);
  explicit_bzero(input->data(), input->size());
  if (!workload) return std::unexpected(workload.error());
  auto outcome = supervisor::Supervise(*workload, options);
  explicit_bzero(workload->token.data(), workload->token.size());
  if (!outcome) return std::unexpected(outcome.error());
  return std::optional<std::string>(outcome->reported_state);
}

}  // namespace

int main(int argc, char** argv) {
  // Non-dumpable from the first instruction, as every airlock process (SPEC §5).
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  CLI::App app{
      "airlock-supervisor: run one task instance from the workload JSON on stdin (started by "
      "the scheduler's local executor, or by `airlock supervise`; not for interactive use): "
      "exchange its workload token, run the task with a scrubbed environment, serve "
      "`airlock task` requests, heartbeat, write the task log and report the final state"};
  app.set_version_flag("--version", "airlock-supervisor 0.1.0");
  std::string config_path;
  bool standby = false;
  bool launch = false;
  app.add_option("--config", config_path, "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  app.add_flag("--standby", standby,
               "Start up before the workload arrives and wait for it on stdin; exit 0 if stdin "
               "closes with no workload (how the local executor keeps a supervisor ready)");
  app.add_flag("--launch", launch,
               "Internal: how a supervisor that is not root starts a task as another user "
               "through sudo. Reads the task's command and environment from the supervisor's "
               "channel on stdin, runs the task and exits as it did; exit 127 if it cannot "
               "start it")
      ->excludes("--standby")
      ->excludes("--config");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the usage error
    return 2;
  }
  if (launch) {
    auto launched = airlock::supervisor::RunLauncher();  // returns only on failure
    std::cerr << "airlock-supervisor --launch: " << launched.error().message() << "\n";
    return 127;
  }
  auto state = Run(config_path, standby, argc, argv);
  if (!state) {
    std::cerr << "airlock-supervisor: " << state.error().message() << "\n";
    return 1;
  }
  return !state->has_value() || **state == "success" ? 0 : 1;
}
