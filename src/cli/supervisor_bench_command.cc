// airlock bench supervisor: N task instances through the real worker path — the local
// executor hands each to an airlock-supervisor, which exchanges its workload token with
// the api-server, runs the task and reports its state — while this process samples every
// supervisor's memory every 20 ms. SPEC §10's target: < 5 MB per supervisor. Needs a
// running api-server on the configured database ([core] execution_api_server_url, or
// --execution-api-url).
// Prints one JSON object: {"count","seconds","states":{state:n},"supervisor_rss_kb":
// {"min","median","max"},"supervisor_rss_anon_kb":{…},"supervisor_pss_kb":{…},
// "supervisor_private_kb":{…},"samples"} — peaks per supervisor. VmRSS counts every page
// mapped, shared library pages included; RssAnon its own memory; Pss shares each shared
// page among the processes that map it; private is what no other process maps. The last
// two come from smaps_rollup, which only root can read of a non-dumpable process: null
// otherwise.

#include <dirent.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <climits>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/component.h"
#include "cli/io.h"
#include "cli/task_fixture.h"
#include "supervisor/local_executor.h"

namespace airlock::cli {

namespace {

namespace json = boost::json;

struct BenchArgs {
  std::string config_path;
  std::string execution_api_url;
  std::string task_json;
  int count = 4;
  double sleep_seconds = 2.0;
  double timeout_seconds = 120.0;
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

struct Peak {
  long rss = 0;
  long anon = 0;
  long pss = 0;       // proportional: shared pages divided among the processes that map them
  long private_ = 0;  // pages no other process maps (what one more supervisor adds)
};

void RunSupervisorBench(const BenchArgs& args) {
  auto context = StartComponent(config::Component::kScheduler, args.config_path);
  if (!context) Exit(kExitFailure, context.error());
  auto store = OpenConfiguredStore(context->config, /*migrate=*/false);
  if (!store) Exit(kExitFailure, store.error());
  std::string url = args.execution_api_url;
  if (url.empty()) {
    auto configured = context->config.GetString("core", "execution_api_server_url");
    if (!configured) Exit(kExitFailure, configured.error());
    url = *configured;
  }
  auto logs = context->config.GetPath("logging", "base_log_folder");
  if (!logs) Exit(kExitFailure, logs.error());

  std::ostringstream sleep_text;
  sleep_text << args.sleep_seconds;
  const std::string task_json =
      !args.task_json.empty()
          ? args.task_json
          : json::serialize(json::object{{"task_id", "sleep"},
                                         {"command", json::array{"sleep", sleep_text.str()}}});
  auto tasks = CreateQueuedTasks(context->config, **store, task_json, args.count, 1, "");
  if (!tasks) Exit(kExitFailure, tasks.error());

  auto executor = supervisor::LocalExecutor::Create(
      {.supervisor_binary = supervisor::SupervisorExecutableBesideSelf(),
       .execution_api_url = url,
       .log_folder = *logs,
       .parallelism = args.count});
  if (!executor) Exit(kExitFailure, executor.error());

  const auto start = std::chrono::steady_clock::now();
  for (const auto& task : *tasks) {
    if (auto r = (*executor)->Submit(task.workload_json); !r) Exit(kExitFailure, r.error());
  }
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(args.timeout_seconds));
  std::map<pid_t, Peak> peaks;
  int samples = 0;
  while ((*executor)->running() > 0 && std::chrono::steady_clock::now() < deadline) {
    for (pid_t pid : Children()) {
      long rss = ProcStatusKb(pid, "VmRSS");
      if (rss <= 0) continue;
      Peak& peak = peaks[pid];
      peak.rss = std::max(peak.rss, rss);
      peak.anon = std::max(peak.anon, ProcStatusKb(pid, "RssAnon"));
      peak.pss = std::max(peak.pss, ProcStatusKb(pid, "Pss", "smaps_rollup"));
      peak.private_ =
          std::max(peak.private_, ProcStatusKb(pid, "Private_Clean", "smaps_rollup") +
                                      ProcStatusKb(pid, "Private_Dirty", "smaps_rollup"));
    }
    ++samples;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if ((*executor)->running() > 0) Exit(kExitFailure, "supervisors still running at --timeout");

  std::map<std::string, int> states;
  auto tis = (*store)->ListTaskInstances(tasks->front().dag_id, tasks->front().run_id);
  if (!tis) Exit(kExitFailure, tis.error());
  for (const auto& ti : *tis) ++states[std::string(store::TaskStateName(ti.state))];
  std::vector<long> rss, anon, pss, unique;
  for (const auto& [pid, peak] : peaks) {
    rss.push_back(peak.rss);
    anon.push_back(peak.anon);
    if (peak.pss > 0) pss.push_back(peak.pss);  // smaps_rollup is readable only for root
    if (peak.private_ > 0) unique.push_back(peak.private_);
  }
  for (auto* v : {&rss, &anon, &pss, &unique}) std::sort(v->begin(), v->end());
  auto summary = [](const std::vector<long>& v) {
    return v.empty() ? json::value(nullptr)
                     : json::value(json::object{
                           {"min", v.front()}, {"median", v[v.size() / 2]}, {"max", v.back()}});
  };
  json::object state_counts;
  for (const auto& [state, n] : states) state_counts[state] = n;
  json::object result{
      {"count", args.count},
      {"seconds", seconds},
      {"states", std::move(state_counts)},
      {"supervisor_rss_kb", summary(rss)},
      {"supervisor_rss_anon_kb", summary(anon)},
      {"supervisor_pss_kb", summary(pss)},
      {"supervisor_private_kb", summary(unique)},
      {"samples", samples},
      {"dag_id", tasks->front().dag_id},
      {"run_id", tasks->front().run_id},
  };
  std::cout << json::serialize(result) << "\n";
}

}  // namespace

void RegisterSupervisorBenchCommand(CLI::App& app) {
  CLI::App* bench = app.get_subcommand("bench");
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = bench->add_subcommand(
      "supervisor",
      "Run N task instances through the local executor and `airlock supervise` against a "
      "running api-server and report each supervisor's peak VmRSS and the final states");
  cmd->add_option("--config", args->config_path,
                  "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  cmd->add_option("--count", args->count, "Task instances (default 4)")
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--sleep", args->sleep_seconds, "Seconds each task sleeps (default 2)")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--task", args->task_json,
                  "The task to run instead of `sleep`, as serialized in a Dag (JSON)");
  cmd->add_option("--execution-api-url", args->execution_api_url,
                  "Execution API URL (default: [core] execution_api_server_url)");
  cmd->add_option("--timeout", args->timeout_seconds, "Give up after this many seconds")
      ->check(CLI::Range(1.0, 86400.0));
  cmd->callback([args] { RunSupervisorBench(*args); });
}

}  // namespace airlock::cli
