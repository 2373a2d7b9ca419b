// airlock triggerer: runs the triggers of deferred task instances (src/triggerer/) until
// SIGTERM or SIGINT. It reaches the api-server only over HTTP, with [triggerer] api_token
// for claims and renewals and the per-trigger tokens it is handed for reports; it holds no
// database URL and no key. SIGTERM and SIGINT are blocked before any thread starts and
// waited for here; then claiming stops, user-trigger children are killed, and it exits 0
// (the triggers it held are taken over by another triggerer once their leases expire).

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>

#include "cli/commands.h"
#include "cli/component.h"
#include "common/log.h"
#include "http/client.h"
#include "supervisor/supervisor.h"
#include "triggerer/trigger_api.h"
#include "triggerer/triggerer.h"

namespace airlock::cli {

namespace {

// One Execution API call's whole time: claims and reports are small.
constexpr std::chrono::milliseconds kApiCallTimeout{10000};

struct TriggererArgs {
  std::string config_path;
};

void RunTriggerer(const TriggererArgs& args) {
  auto started =
      OrFail(StartUserCodeComponent(config::Component::kTriggerer, "triggerer", args.config_path));
  const config::Config& config = started.context.config;
  const supervisor::UnixUser& user = started.user;
  auto non_negative = [&](const std::string& option) {
    return OrFail(NonNegativeInt(config, "triggerer", option));
  };
  const double poll_interval = OrFail(config.GetFloat("triggerer", "poll_interval"));
  if (!(poll_interval > 0) || poll_interval > 3600) {
    Fail(Error(ErrorCode::kInvalidArgument,
               "[triggerer] poll_interval must be more than 0 and at most 3600 seconds"));
  }
  triggerer::TriggererOptions options{
      .capacity = static_cast<int>(std::min<int64_t>(non_negative("capacity"), INT32_MAX)),
      .poll_interval = std::chrono::milliseconds(std::llround(poll_interval * 1000)),
      .lease_seconds =
          static_cast<int>(std::min<int64_t>(non_negative("lease_seconds"), INT32_MAX)),
      .user_triggers = {.limits = {.address_space_bytes =
                                       static_cast<rlim_t>(non_negative("memory_limit")),
                                   .cpu_seconds = static_cast<rlim_t>(non_negative("cpu_limit")),
                                   .file_size_bytes =
                                       static_cast<rlim_t>(non_negative("file_size_limit"))},
                        .user = user,
                        .parent_environment = supervisor::CurrentEnvironment()},
  };
  // The CA bundle is for the api-server only: user http triggers keep the system's store.
  const std::string ca_file = OrFail(config::ExecutionApiCaFile(config));
  auto api = triggerer::MakeHttpTriggerApi(
      OrFail(config.GetString("core", "execution_api_server_url")), started.api_token,
      [ca_file](const http::ClientRequest& request) {
        return http::Send(request, {.timeout = kApiCallTimeout, .ca_file = ca_file});
      });
  auto triggerer = OrFail(triggerer::Triggerer::Start(options, *api));
  LogInfo("triggerer " + triggerer->triggerer_id() + " started: capacity " +
          std::to_string(options.capacity) + ", lease " + std::to_string(options.lease_seconds) +
          " s, user triggers run as " + user.name);
  std::cout << "triggerer started" << std::endl;
  WaitForShutdown(started.signals);
  triggerer->Stop();
  const auto stats = triggerer->stats();
  LogInfo("stopped: " + std::to_string(stats.claimed) + " triggers claimed, " +
          std::to_string(stats.fired) + " events and " + std::to_string(stats.failed) +
          " failures reported, " + std::to_string(stats.lost) + " lost");
}

}  // namespace

void RegisterTriggererCommand(CLI::App& app) {
  auto args = std::make_shared<TriggererArgs>();
  CLI::App* cmd = app.add_subcommand(
      "triggerer",
      "Run the triggers of deferred tasks (date/time, file, HTTP status, and user executables "
      "in hardened children) and report their events to the api-server, claiming them with "
      "[triggerer] api_token. Holds no database credentials. Runs until SIGTERM or SIGINT, "
      "then kills its user-trigger children and exits 0; the triggers it held go to another "
      "triggerer when their leases ([triggerer] lease_seconds) expire.");
  cmd->add_option("--config", args->config_path,
                  "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  cmd->callback([args] { RunTriggerer(*args); });
}

}  // namespace airlock::cli
