// airlock scheduler: the scheduling loop (src/scheduler/) with the local executor, and
// airlock dag-processor: the loop that submits the dags folder's YAML Dags through the
// api-server. Each is a long-running component: SIGTERM and SIGINT are blocked in the main
// thread before any other thread starts and waited for between passes, so a pass is never
// cut in half.

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "cli/commands.h"
#include "cli/component.h"
#include "common/log.h"
#include "dag_processor/bundles.h"
#include "dag_processor/dag_processor.h"
#include "http/client.h"
#include "jwt/signer.h"
#include "scheduler/scheduler.h"
#include "supervisor/supervisor.h"
// Defined by src/cli/CMakeLists.txt when the supervisor module is part of the build.
#ifdef AIRLOCK_HAVE_LOCAL_EXECUTOR
#include "supervisor/local_executor.h"
#endif

namespace airlock::cli {

namespace {

#ifdef AIRLOCK_HAVE_LOCAL_EXECUTOR
// The scheduler's Executor over the supervisor author's LocalExecutor.
class LocalExecutorAdapter final : public scheduler::Executor {
 public:
  explicit LocalExecutorAdapter(std::unique_ptr<supervisor::LocalExecutor> executor)
      : executor_(std::move(executor)) {}
  Result<void> Submit(const std::string& workload_json) override {
    return executor_->Submit(workload_json);
  }

 private:
  std::unique_ptr<supervisor::LocalExecutor> executor_;
};
#endif

Result<std::unique_ptr<scheduler::Executor>> MakeLocalExecutor(const config::Config& config) {
#ifdef AIRLOCK_HAVE_LOCAL_EXECUTOR
  auto url = config.GetString("core", "execution_api_server_url");
  if (!url) return std::unexpected(url.error());
  auto logs = config.GetPath("logging", "base_log_folder");
  if (!logs) return std::unexpected(logs.error());
  auto parallelism = config.GetInt("core", "parallelism");
  if (!parallelism) return std::unexpected(parallelism.error());
  auto standby = NonNegativeInt(config, "core", "standby_supervisors");
  if (!standby) return std::unexpected(standby.error());
  auto executor = supervisor::LocalExecutor::Create(
      {.supervisor_binary = supervisor::SupervisorExecutableBesideSelf(),
       .execution_api_url = *url,
       .log_folder = *logs,
       .parallelism = static_cast<int>(*parallelism),
       .standby = static_cast<int>(*standby)});
  if (!executor) return std::unexpected(executor.error());
  return std::make_unique<LocalExecutorAdapter>(std::move(*executor));
#else
  (void)config;
  return FailedPrecondition("this airlock was built without the local executor (src/supervisor)");
#endif
}

struct ComponentArgs {
  std::string config_path;
  bool once = false;
};

void RunScheduler(const ComponentArgs& args) {
  const sigset_t signals = BlockShutdownSignals();
  auto context = OrFail(StartComponent(config::Component::kScheduler, args.config_path));
  const config::Config& config = context.config;
  const Clock& clock = SystemClock::Instance();
  auto store = OrFail(OpenConfiguredStore(config, /*migrate=*/false));
  jwt::TokenSigner signer(OrFail(SigningKeySource(config)), clock);
  auto executor = OrFail(MakeLocalExecutor(config));

  scheduler::SchedulerOptions options{
      .audience = OrFail(config.GetString("execution_api", "jwt_audience")),
      .task_queued_timeout_seconds = static_cast<int64_t>(
          std::ceil(OrFail(config.GetFloat("scheduler", "task_queued_timeout")))),
      .heartbeat_timeout_seconds =
          OrFail(config.GetInt("scheduler", "task_instance_heartbeat_timeout")),
      .parallelism = static_cast<int>(OrFail(config.GetInt("core", "parallelism"))),
  };
  if (auto issuer = config.GetString("api_auth", "jwt_issuer"); issuer && !issuer->empty()) {
    options.issuer = *issuer;
  }
  const double idle = OrFail(config.GetFloat("scheduler", "scheduler_idle_sleep_time"));
  scheduler::Scheduler scheduler(*store, signer, *executor, clock, options);
  LogInfo("scheduler started");
  std::cout << "scheduler started" << std::endl;
  do {
    auto stats = scheduler.RunOnce();
    if (!stats) {
      LogError("scheduler pass failed: " + stats.error().message());
      continue;
    }
    for (const std::string& e : stats->errors) LogWarning(e);
    if (stats->runs_created || stats->runs_started || stats->runs_finished || stats->tis_queued ||
        stats->tis_retried || stats->tis_timed_out || stats->tis_skipped_or_upstream_failed) {
      LogInfo(
          "pass: " + std::to_string(stats->runs_created) + " runs created, " +
          std::to_string(stats->runs_started) + " started, " +
          std::to_string(stats->runs_finished) + " finished; " + std::to_string(stats->tis_queued) +
          " task instances queued, " + std::to_string(stats->tis_retried) + " retried, " +
          std::to_string(stats->tis_timed_out) + " timed out, " +
          std::to_string(stats->tis_skipped_or_upstream_failed) + " skipped or upstream_failed");
    }
  } while (!args.once && !WaitForShutdown(signals, idle));
  LogInfo("stopped");
}

void RunDagProcessor(const ComponentArgs& args) {
  auto started = OrFail(
      StartUserCodeComponent(config::Component::kDagProcessor, "dag_processor", args.config_path));
  const config::Config& config = started.context.config;
  const supervisor::UnixUser& user = started.user;
  auto non_negative = [&](const std::string& option) {
    return OrFail(NonNegativeInt(config, "dag_processor", option));
  };
  const double timeout = OrFail(config.GetFloat("dag_processor", "file_parsing_timeout"));
  if (!(timeout > 0)) {
    Fail(Error(ErrorCode::kInvalidArgument,
               "[dag_processor] file_parsing_timeout must be a positive number of seconds"));
  }
  auto bundles_text = config.GetString("dag_processor", "bundles");
  const auto bundles = OrFail(
      dag_processor::ParseBundles(bundles_text ? *bundles_text : "",
                                  {.name = OrFail(config.GetString("dag_processor", "bundle_name")),
                                   .path = OrFail(config.GetPath("core", "dags_folder"))}));
  const std::string execution_api_url =
      OrFail(config.GetString("core", "execution_api_server_url"));
  const std::string ca_file = OrFail(config::ExecutionApiCaFile(config));
  const dag_processor::ExecutableRunOptions executable{
      .limits = {.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout * 1000)),
                 .max_output_bytes = static_cast<size_t>(non_negative("max_output_bytes")),
                 .address_space_bytes = static_cast<rlim_t>(non_negative("memory_limit")),
                 .cpu_seconds = static_cast<rlim_t>(non_negative("cpu_limit")),
                 .file_size_bytes = static_cast<rlim_t>(non_negative("file_size_limit"))},
      .user = user,
      .parent_environment = supervisor::CurrentEnvironment()};
  const int64_t min_file_process_interval = non_negative("min_file_process_interval");
  // One processor per bundle: each keeps its own files' state and reports its own import
  // errors; the token must cover every bundle.
  std::vector<dag_processor::DagProcessor> processors;
  for (const dag_processor::BundleConfig& bundle : bundles) {
    processors.emplace_back(
        dag_processor::DagProcessorOptions{.dags_folder = bundle.path,
                                           .bundle_name = bundle.name,
                                           .execution_api_url = execution_api_url,
                                           .token = started.api_token,
                                           .min_file_process_interval = min_file_process_interval,
                                           .executable = executable},
        [ca_file](const http::ClientRequest& request) {
          return http::Send(request, {.ca_file = ca_file});
        });
  }
  LogInfo("executable Dag files run as " + user.name);
  const auto interval =
      static_cast<double>(OrFail(config.GetInt("dag_processor", "refresh_interval")));
  LogInfo("dag-processor started");
  double wait = interval;
  do {
    wait = interval;
    bool problems = false;
    for (size_t i = 0; i < processors.size(); ++i) {
      const std::string& name = bundles[i].name;
      auto stats = processors[i].ProcessOnce();
      if (!stats) {
        LogError("dag-processor pass over bundle " + name + " failed: " + stats.error().message());
        if (args.once) throw CLI::RuntimeError(kExitFailure);
        wait = std::min(interval, 2.0);  // the api-server may still be starting
        continue;
      }
      for (const std::string& e : stats->errors) LogWarning("Dag file problem: " + e);
      LogInfo("bundle " + name + ": " + std::to_string(stats->files) + " Dag files, " +
              std::to_string(stats->submitted) + " Dags submitted, " +
              std::to_string(stats->deleted) + " removed, " + std::to_string(stats->errors.size()) +
              " problems (version " + stats->bundle_version.substr(0, 12) + ")");
      if (args.once) {
        // Through the masker like every log line: an error holds the tail of an
        // executable Dag file's stderr, which is user output (SPEC §8).
        for (const std::string& e : stats->errors) {
          std::cerr << started.context.masker->Mask(e) << "\n";
        }
        problems = problems || !stats->errors.empty();
      }
    }
    if (problems) throw CLI::RuntimeError(kExitFailure);
  } while (!args.once && !WaitForShutdown(started.signals, wait));
  LogInfo("stopped");
}

}  // namespace

void RegisterSchedulerCommands(CLI::App& app) {
  auto scheduler_args = std::make_shared<ComponentArgs>();
  CLI::App* scheduler = app.add_subcommand(
      "scheduler",
      "Create Dag runs and task instances and hand them to the local executor. Stops between "
      "two passes on SIGTERM or SIGINT.");
  scheduler->add_option("--config", scheduler_args->config_path,
                        "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  scheduler->add_flag("--once", scheduler_args->once, "Run one pass and exit");
  scheduler->callback([scheduler_args] { RunScheduler(*scheduler_args); });

  auto processor_args = std::make_shared<ComponentArgs>();
  CLI::App* processor = app.add_subcommand(
      "dag-processor",
      "Parse the Dag files of [core] dags_folder (YAML, and executable files run in hardened "
      "children that print their Dags as JSON) and submit them to the api-server with the "
      "[dag_processor] api_token. Holds no database credentials.");
  processor->add_option("--config", processor_args->config_path,
                        "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  processor->add_flag("--once", processor_args->once,
                      "Run one pass and exit (non-zero if a file had a problem)");
  processor->callback([processor_args] { RunDagProcessor(*processor_args); });
}

}  // namespace airlock::cli
