// airlock bench tasks: N trivial task instances (`true`) through the real path — a Dag
// run that the scheduler (src/scheduler/, run in this process with the configured store
// and signing key) starts, whose task instances it queues and hands to the local executor,
// which starts one `airlock supervise` per task; each supervisor exchanges its workload
// token with the api-server, runs `true` and reports success. Needs a running api-server on
// the configured database ([core] execution_api_server_url, or --execution-api-url), and
// no other scheduler on it (it would take the run).
//
// Where each latency is measured, honestly:
//   queued → exec    from the scheduler's Executor::Submit call (just after the task
//                    instance's queued state is committed and its workload token minted:
//                    the commit itself is not included) to the supervisor's "started task
//                    process" task-log line, written once execve() has succeeded (the
//                    supervisor's exec-status pipe closed). Both CLOCK_REALTIME; the log
//                    line has millisecond resolution.
//   exec → success   from that line to the supervisor's "reported state success" line,
//                    written after the api-server answered PATCH …/state.
// Throughput: N / seconds from the first Submit to the last "reported state success".
// Supervisor RSS: peak VmRSS and RssAnon per supervisor, sampled every 5 ms from
// /proc/<pid>/status (as `bench supervisor` does).
// Prints one JSON object: {"count","parallelism","seconds","tasks_per_s","states",
// "queued_to_exec_ms":{p50,p90,p99,max},"exec_to_success_ms":{…},"supervisor_rss_kb":{…},
// "supervisor_rss_anon_kb":{…},"dag_id","run_id"}.

#include <dirent.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <climits>
#include <cmath>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cli/commands.h"
#include "cli/component.h"
#include "cli/io.h"
#include "common/random.h"
#include "jwt/signer.h"
#include "scheduler/executor.h"
#include "scheduler/scheduler.h"
#include "supervisor/local_executor.h"

namespace airlock::cli {

namespace {

namespace json = boost::json;

struct TasksBenchArgs {
  std::string config_path;
  std::string execution_api_url;
  int count = 100;
  int parallelism = 0;  // 0: --count
  double timeout_seconds = 300.0;
};

int64_t RealtimeMicros() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// Records when each task instance was handed over, then hands it to the local executor.
class TimedExecutor final : public scheduler::Executor {
 public:
  explicit TimedExecutor(supervisor::LocalExecutor& executor) : executor_(executor) {}

  Result<void> Submit(const std::string& workload_json) override {
    const int64_t now = RealtimeMicros();
    auto submitted = executor_.Submit(workload_json);
    if (!submitted) return submitted;
    boost::system::error_code ec;
    json::value workload = json::parse(workload_json, ec);
    if (!ec) {
      std::lock_guard lock(mu_);
      submitted_at_[std::string(workload.at("ti").at("id").as_string())] = now;
    }
    return {};
  }

  std::map<std::string, int64_t> submitted_at() const {
    std::lock_guard lock(mu_);
    return submitted_at_;
  }

 private:
  supervisor::LocalExecutor& executor_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> submitted_at_;  // Guarded by mu_.
};

// The children of this process (every thread's), from /proc/self/task/*/children.
std::set<pid_t> Children() {
  std::set<pid_t> pids;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return pids;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + entry->d_name + "/children");
    for (pid_t pid; in >> pid;) pids.insert(pid);
  }
  closedir(dir);
  return pids;
}

// "[2026-11-23T19:24:36.123Z] supervisor: <message>" → microseconds since the epoch, or -1.
int64_t NoteTime(const std::string& line) {
  std::tm tm{};
  int millis = 0;
  if (line.size() < 26 || line[0] != '[') return -1;
  const char* end = strptime(line.c_str() + 1, "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr || std::sscanf(end, ".%3dZ]", &millis) != 1) return -1;
  return static_cast<int64_t>(timegm(&tm)) * 1000000 + millis * 1000;
}

struct TaskTimes {
  int64_t exec = -1;
  int64_t success = -1;
};

TaskTimes ReadTaskLog(const std::string& path) {
  TaskTimes times;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.find("] supervisor: started task process ") != std::string::npos) {
      times.exec = NoteTime(line);
    } else if (line.find("] supervisor: reported state success") != std::string::npos) {
      times.success = NoteTime(line);
    }
  }
  return times;
}

json::value Percentiles(std::vector<double> v) {
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
    return v[std::min(i, v.size() - 1)];
  };
  return json::object{{"p50", at(0.50)}, {"p90", at(0.90)}, {"p99", at(0.99)}, {"max", v.back()}};
}

json::value Summary(std::vector<long> v) {
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  return json::object{{"min", v.front()}, {"median", v[v.size() / 2]}, {"max", v.back()}};
}

void RunTasksBench(const TasksBenchArgs& args) {
  auto context = StartComponent(config::Component::kScheduler, args.config_path);
  if (!context) Exit(kExitFailure, context.error());
  const config::Config& config = context->config;
  auto store = OpenConfiguredStore(config, /*migrate=*/false);
  if (!store) Exit(kExitFailure, store.error());
  std::string url = args.execution_api_url;
  if (url.empty()) {
    auto configured = config.GetString("core", "execution_api_server_url");
    if (!configured) Exit(kExitFailure, configured.error());
    url = *configured;
  }
  auto logs = config.GetPath("logging", "base_log_folder");
  if (!logs) Exit(kExitFailure, logs.error());
  auto keys = SigningKeySource(config);
  if (!keys) Exit(kExitFailure, keys.error());
  auto audience = config.GetString("execution_api", "jwt_audience");
  if (!audience) Exit(kExitFailure, audience.error());
  const int parallelism = args.parallelism > 0 ? args.parallelism : args.count;

  // A Dag of `count` independent `true` tasks and a queued manual run of it.
  const Clock& clock = SystemClock::Instance();
  auto suffix = Uuid4Hex();
  if (!suffix) Exit(kExitFailure, suffix.error());
  const std::string dag_id = "bench_tasks_" + suffix->substr(0, 12);
  const std::string run_id = "manual__bench";
  json::array tasks;
  for (int i = 0; i < args.count; ++i) {
    tasks.push_back(
        json::object{{"task_id", "t" + std::to_string(i)}, {"command", json::array{"true"}}});
  }
  const int64_t now = clock.NowSeconds();
  json::object serialized{{"dag_id", dag_id}, {"tasks", std::move(tasks)}};
  if (auto r = (*store)->SetDag({.dag_id = dag_id,
                                 .bundle_name = "dags-folder",
                                 .relative_fileloc = dag_id + ".yaml",
                                 .serialized_json = json::serialize(serialized),
                                 .updated_at = now});
      !r) {
    Exit(kExitFailure, r.error());
  }
  if (auto r = (*store)->CreateDagRun({.dag_id = dag_id,
                                       .run_id = run_id,
                                       .state = store::DagRunState::kQueued,
                                       .logical_date = now});
      !r) {
    Exit(kExitFailure, r.error());
  }

  auto standby = NonNegativeInt(context->config, "core", "standby_supervisors");
  if (!standby) Exit(kExitFailure, standby.error());
  auto local = supervisor::LocalExecutor::Create(
      {.supervisor_binary = supervisor::SupervisorExecutableBesideSelf(),
       .execution_api_url = url,
       .log_folder = *logs,
       .parallelism = parallelism,
       .standby = static_cast<int>(*standby)});
  if (!local) Exit(kExitFailure, local.error());
  TimedExecutor executor(**local);
  jwt::TokenSigner signer(*keys, clock);
  scheduler::SchedulerOptions options{.audience = *audience, .parallelism = parallelism};
  if (auto issuer = config.GetString("api_auth", "jwt_issuer"); issuer && !issuer->empty()) {
    options.issuer = *issuer;
  }
  scheduler::Scheduler scheduler(**store, signer, executor, clock, options);

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(args.timeout_seconds));
  std::map<pid_t, std::pair<long, long>> peaks;  // pid → (VmRSS, RssAnon)
  auto last_pass = std::chrono::steady_clock::time_point();
  store::DagRunState state = store::DagRunState::kQueued;
  while (std::chrono::steady_clock::now() < deadline) {
    // A scheduler pass every 20 ms (it queues what has free slots), RSS samples every 5 ms.
    if (std::chrono::steady_clock::now() - last_pass >= std::chrono::milliseconds(20)) {
      last_pass = std::chrono::steady_clock::now();
      auto stats = scheduler.RunOnce();
      if (!stats) Exit(kExitFailure, stats.error());
      for (const std::string& e : stats->errors) std::cerr << "scheduler: " << e << "\n";
      auto run = (*store)->GetDagRun(dag_id, run_id);
      if (!run) Exit(kExitFailure, run.error());
      state = run->state;
      if (state == store::DagRunState::kSuccess || state == store::DagRunState::kFailed) break;
    }
    for (pid_t pid : Children()) {
      long rss = ProcStatusKb(pid, "VmRSS");
      if (rss <= 0) continue;
      auto& peak = peaks[pid];
      peak.first = std::max(peak.first, rss);
      peak.second = std::max(peak.second, ProcStatusKb(pid, "RssAnon"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (state != store::DagRunState::kSuccess && state != store::DagRunState::kFailed) {
    Exit(kExitFailure, "the run did not finish within --timeout");
  }

  auto tis = (*store)->ListTaskInstances(dag_id, run_id);
  if (!tis) Exit(kExitFailure, tis.error());
  const auto submitted = executor.submitted_at();
  std::map<std::string, int> states;
  std::vector<double> queued_to_exec, exec_to_success;
  int64_t first_submit = INT64_MAX, last_success = 0;
  for (const auto& ti : *tis) {
    ++states[std::string(store::TaskStateName(ti.state))];
    auto it = submitted.find(ti.id);
    if (it == submitted.end()) continue;
    TaskTimes times = ReadTaskLog(*logs + "/" + scheduler::Scheduler::LogPath(ti));
    first_submit = std::min(first_submit, it->second);
    if (times.exec >= 0) queued_to_exec.push_back((times.exec - it->second) / 1000.0);
    if (times.exec >= 0 && times.success >= 0) {
      exec_to_success.push_back((times.success - times.exec) / 1000.0);
      last_success = std::max(last_success, times.success);
    }
  }
  const double seconds = last_success > first_submit ? (last_success - first_submit) / 1e6 : 0.0;
  std::vector<long> rss, anon;
  for (const auto& [pid, peak] : peaks) {
    rss.push_back(peak.first);
    anon.push_back(peak.second);
  }
  json::object state_counts;
  for (const auto& [name, n] : states) state_counts[name] = n;
  json::object result{
      {"count", args.count},
      {"parallelism", parallelism},
      {"seconds", seconds},
      {"tasks_per_s", seconds > 0 ? static_cast<double>(exec_to_success.size()) / seconds : 0.0},
      {"states", std::move(state_counts)},
      {"queued_to_exec_ms", Percentiles(queued_to_exec)},
      {"exec_to_success_ms", Percentiles(exec_to_success)},
      {"supervisor_rss_kb", Summary(rss)},
      {"supervisor_rss_anon_kb", Summary(anon)},
      {"dag_id", dag_id},
      {"run_id", run_id},
  };
  std::cout << json::serialize(result) << "\n";
  if (state != store::DagRunState::kSuccess) Exit(kExitFailure, "the run failed");
}

}  // namespace

void RegisterTasksBenchCommand(CLI::App& app) {
  CLI::App* bench = app.get_subcommand("bench");
  auto args = std::make_shared<TasksBenchArgs>();
  CLI::App* cmd = bench->add_subcommand(
      "tasks",
      "Run N `true` tasks through the scheduler, the local executor and `airlock supervise` "
      "against a running api-server; report throughput, queued → exec and exec → success "
      "latency percentiles and supervisor RSS");
  cmd->add_option("--config", args->config_path,
                  "Config file with the database and signing key, e.g. a scheduler's "
                  "(default: $AIRLOCK_HOME/airlock.cfg)");
  cmd->add_option("--count", args->count, "Task instances (default 100)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--parallelism", args->parallelism, "Supervisors at once (default: --count)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--execution-api-url", args->execution_api_url,
                  "Execution API URL (default: [core] execution_api_server_url)");
  cmd->add_option("--timeout", args->timeout_seconds, "Give up after this many seconds")
      ->check(CLI::Range(1.0, 86400.0));
  cmd->callback([args] { RunTasksBench(*args); });
}

}  // namespace airlock::cli
