// airlock bench triggers: one real `airlock triggerer` process (this binary, started as a
// child with a generated environment) holding N datetime triggers that all fire at the same
// whole second, against a fake Execution API that this process serves on loopback HTTP
// (triggerer::FakeTriggerApi behind http::Server, with the real routes' bodies, statuses and
// Bearer checks — no JWTs, no database, so the numbers are the triggerer's, not the
// api-server's).
//
// What is measured, honestly:
//   fire latency    the time of the triggerer's "fired" log line (written on its event loop
//                   when the timer ran) minus the moment.
//   event latency   when the fake API received a trigger's event POST minus the trigger's
//                   moment (CLOCK_REALTIME both, same machine). It includes the timer
//                   wake-up, the triggerer's API pool (4 threads) and one HTTP request per
//                   event (a new TCP connection each, as http::Send does). N triggers firing
//                   at the same second is the worst case for the tail.
//   claim time      from adding the N triggers to the fake until all N are leased (the
//                   triggerer claims every [triggerer] poll_interval, and again at once when
//                   a claim came back full).
//   RSS             of the triggerer process from /proc/<pid>/status: VmRSS idle (after its
//                   first claims, holding nothing), VmRSS holding all N (the last sample,
//                   every 20 ms, until 100 ms before the moment),
//                   and VmHWM (the peak) after all fired; per trigger = (holding − idle) / N.
//   firing CPU      the triggerer's user + system CPU time from the last RSS sample before
//                   the moment until the last event arrived (/proc/<pid>/stat, clock ticks).
//   stop            SIGTERM → exit, and the exit status (0 expected).
// Prints one JSON object.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/io.h"
#include "common/files.h"
#include "common/random.h"
#include "common/time_format.h"
#include "http/router.h"
#include "http/server.h"
#include "supervisor/environment.h"
#include "supervisor/spawn.h"
#include "triggerer/fake_trigger_api.h"

namespace airlock::cli {

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

struct TriggersBenchArgs {
  int count = 1000;
  double delay_seconds = 5.0;
  double timeout_seconds = 300.0;
};

// User + system CPU time of `pid` in milliseconds, from /proc/<pid>/stat, or 0.
double CpuMillis(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(line.substr(paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  // Fields 3..13 precede utime (14) and stime (15).
  for (int i = 3; i <= 13 && fields >> field; ++i) {
  }
  fields >> utime >> stime;
  return static_cast<double>(utime + stime) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

json::value Percentiles(std::vector<double> v) {
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
    return std::round(v[std::min(i, v.size() - 1)] * 10) / 10;
  };
  return json::object{{"p50", at(0.50)},
                      {"p95", at(0.95)},
                      {"p99", at(0.99)},
                      {"max", std::round(v.back() * 10) / 10}};
}

// When the triggerer's loop fired each trigger: the time of its "…: fired" log lines
// ("2026-12-05T06:44:42.276711Z info triggerer trigger 12 (datetime, …): fired"), in
// microseconds since the epoch.
std::vector<int64_t> FiredAt(const std::string& log_path) {
  std::vector<int64_t> out;
  std::ifstream in(log_path);
  for (std::string line; std::getline(in, line);) {
    if (!line.ends_with("): fired")) continue;
    std::tm tm{};
    const char* end = strptime(line.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    long micros = 0;
    if (end == nullptr || std::sscanf(end, ".%6ldZ", &micros) != 1) continue;
    out.push_back(static_cast<int64_t>(timegm(&tm)) * 1000000 + micros);
  }
  return out;
}

// Waits for `done` until `deadline`, polling every millisecond.
template <typename Predicate>
bool WaitUntil(Predicate done, std::chrono::steady_clock::time_point deadline) {
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

void RunTriggersBench(const TriggersBenchArgs& args) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(args.timeout_seconds));
  auto token = Uuid4Hex();
  if (!token) Exit(kExitFailure, token.error());
  triggerer::FakeTriggerApi fake(*token);
  http::Router router;
  fake.AddRoutes(router, "/execution");
  auto server =
      http::Server::Start({.threads = 2}, [&router](const http::Request& r, http::Respond respond) {
        router.Dispatch(r, std::move(respond));
      });
  if (!server) Exit(kExitFailure, server.error());

  // The triggerer's home: its log, no config file (everything comes from the environment).
  std::error_code ec;
  const fs::path home =
      fs::temp_directory_path() / ("airlock-bench-triggers-" + token->substr(0, 12));
  fs::create_directories(home, ec);
  if (ec) Exit(kExitFailure, "cannot create " + home.string() + ": " + ec.message());
  const std::string log_path = (home / "triggerer.log").string();
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) Exit(kExitFailure, "cannot create " + log_path);
  const supervisor::EnvironmentMap parent = supervisor::CurrentEnvironment();
  auto env = supervisor::ScrubbedEnvironment(
      parent, home.string(),
      {{"AIRLOCK_HOME", home.string()},
       {"AIRLOCK__TRIGGERER__API_TOKEN", *token},
       {"AIRLOCK__TRIGGERER__CAPACITY", std::to_string(args.count)},
       {"AIRLOCK__CORE__EXECUTION_API_SERVER_URL",
        "http://127.0.0.1:" + std::to_string((*server)->port()) + "/execution/"}});
  auto pid = supervisor::Spawn({.argv = {SelfExecutable(), "triggerer"},
                                .env = std::move(env),
                                .stdout_fd = log_fd,
                                .stderr_fd = log_fd,
                                .die_with_parent = true});
  close(log_fd);
  if (!pid) Exit(kExitFailure, pid.error());
  auto fail = [&](const std::string& why) {
    kill(*pid, SIGKILL);
    waitpid(*pid, nullptr, 0);
    Exit(kExitFailure, why + " (triggerer log: " + log_path + ")");
  };

  // Idle: after two claims, holding nothing.
  if (!WaitUntil([&] { return fake.claim_calls() >= 2; }, deadline)) {
    fail("the triggerer made no claim");
  }
  const long idle_kb = ProcStatusKb(*pid, "VmRSS");

  const auto now = std::chrono::system_clock::now();
  const int64_t moment =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() + 1 +
      static_cast<int64_t>(std::ceil(args.delay_seconds));
  const std::string trigger_args = R"({"moment":")" + FormatUtcSeconds(moment) + "\"}";
  const auto added = std::chrono::steady_clock::now();
  for (int i = 0; i < args.count; ++i) fake.Add("datetime", trigger_args);
  if (!WaitUntil([&] { return fake.held() >= static_cast<size_t>(args.count); }, deadline)) {
    fail("the triggerer did not claim every trigger");
  }
  const double claim_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - added).count();
  const auto moment_tp = std::chrono::system_clock::time_point(std::chrono::seconds(moment));
  const bool claimed_in_time = std::chrono::system_clock::now() < moment_tp;
  // Holding: the last sample before the moment, so the claim answers have been taken in.
  long holding_kb = ProcStatusKb(*pid, "VmRSS");
  while (std::chrono::system_clock::now() < moment_tp - milliseconds(100)) {
    holding_kb = ProcStatusKb(*pid, "VmRSS");
    std::this_thread::sleep_for(milliseconds(20));
  }

  const double cpu_before_ms = CpuMillis(*pid);
  const auto reports = fake.WaitForReports(
      static_cast<size_t>(args.count),
      std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now()));
  if (reports.size() < static_cast<size_t>(args.count)) {
    fail("only " + std::to_string(reports.size()) + " of " + std::to_string(args.count) +
         " events arrived within --timeout");
  }
  const long peak_kb = ProcStatusKb(*pid, "VmHWM");
  const double firing_cpu_ms = CpuMillis(*pid) - cpu_before_ms;
  std::vector<double> latency_ms;
  int failures = 0;
  for (const auto& report : reports) {
    if (!report.is_event) ++failures;
    latency_ms.push_back(
        std::chrono::duration<double, std::milli>(report.received - moment_tp).count());
  }

  const auto stop_start = std::chrono::steady_clock::now();
  kill(*pid, SIGTERM);
  int status = 0;
  pid_t reaped = 0;
  WaitUntil(
      [&] {
        reaped = waitpid(*pid, &status, WNOHANG);
        return reaped != 0;
      },
      std::chrono::steady_clock::now() + std::chrono::seconds(30));
  if (reaped == 0) fail("the triggerer did not stop within 30 s of SIGTERM");
  const double stop_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - stop_start)
          .count();
  (*server)->Shutdown();
  std::vector<double> fire_ms;
  for (int64_t micros : FiredAt(log_path)) {
    fire_ms.push_back(static_cast<double>(micros - moment * 1000000) / 1000.0);
  }

  json::object result{
      {"count", args.count},
      {"api", "fake Execution API on loopback HTTP (triggerer::FakeTriggerApi)"},
      {"moment", FormatUtcSeconds(moment)},
      {"claim_ms", std::round(claim_ms)},
      {"claimed_before_moment", claimed_in_time},
      {"events", static_cast<int64_t>(reports.size()) - failures},
      {"failures", failures},
      {"fire_latency_ms", Percentiles(fire_ms)},
      {"event_latency_ms", Percentiles(latency_ms)},
      {"triggerer_rss_kb",
       json::object{{"idle", idle_kb}, {"holding", holding_kb}, {"peak", peak_kb}}},
      {"firing_cpu_ms", std::round(firing_cpu_ms)},
      {"rss_per_trigger_bytes",
       std::round(static_cast<double>(holding_kb - idle_kb) * 1024 / args.count)},
      {"stop_ms", std::round(stop_ms)},
      {"exit_status", WIFEXITED(status) ? WEXITSTATUS(status) : -1},
  };
  std::cout << json::serialize(result) << "\n";
  fs::remove_all(home, ec);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || failures > 0) {
    Exit(kExitFailure, "the triggerer reported failures or did not exit 0");
  }
}

}  // namespace

void RegisterTriggersBenchCommand(CLI::App& app) {
  CLI::App* bench = app.get_subcommand("bench");
  auto args = std::make_shared<TriggersBenchArgs>();
  CLI::App* cmd = bench->add_subcommand(
      "triggers",
      "Start one `airlock triggerer` against a fake Execution API served by this process on "
      "loopback HTTP, give it N datetime triggers that all fire at the same second, and "
      "report event latency (received − moment: p50/p95/p99/max), claim time, the "
      "triggerer's RSS (idle, holding, peak, per trigger) and its SIGTERM stop; one JSON "
      "object. Needs no configuration, database or api-server.");
  cmd->add_option("--count", args->count, "Datetime triggers (default 1000)")
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--delay", args->delay_seconds,
                  "Seconds from now (rounded up to a whole second, plus one) to the moment "
                  "they fire; must leave time to claim them all (default 5)")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--timeout", args->timeout_seconds, "Give up after this many seconds")
      ->check(CLI::Range(1.0, 86400.0));
  cmd->callback([args] { RunTriggersBench(*args); });
}

}  // namespace airlock::cli
