// airlock api-server: the Execution API, the REST API (/api/v2, /auth) and the UI over
// HTTP(S).
// Start-up order matters: the configuration is checked for secrets this component should
// not hold before anything is opened; SIGTERM and SIGINT are blocked before the server's
// threads start, so that only the main thread receives them and turns them into a
// graceful shutdown (stop accepting, finish in-flight requests, flush the audit log).

#include <pthread.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "api/auth_manager.h"
#include "api/rest_api.h"
#include "api/ui.h"
#include "api/users.h"
#include "cli/commands.h"
#include "cli/component.h"
#include "common/log.h"
#include "common/malloc_tuning.h"
#include "execution_api/audit_writer.h"
#include "execution_api/execution_api.h"
#include "http/blocking_pool.h"
#include "http/router.h"
#include "http/server.h"
#include "jwt/signer.h"
#include "jwt/validator.h"

namespace airlock::cli {

namespace {

struct ApiServerArgs {
  std::string config_path;
  std::string host;
  int port = -1;  // -1: [api] port
  bool migrate = false;
};

// Verified tokens the api-server remembers (validator.h): one per running task is what a
// heartbeat needs; 16384 entries of about 1 KiB each bound the cache at ~16 MiB.
constexpr size_t kVerifiedTokenCacheCapacity = 16384;

// Threads for the routes that may block (http::Router::RunBlockingOn): database reads and
// writes other than heartbeats, and logins (argon2id). Fewer than the store's pool has
// connections (StoreOptions::max_connections, 8), which the heartbeat and audit writers
// and the checkpointer use too.
constexpr int kBlockingThreads = 4;

// The most I/O threads `[api] workers` may ask for: each is a thread with its own event
// loop, and a typo such as 10000 should be refused, not started.
constexpr int64_t kMaxServerThreads = 256;

// Where the Execution API is mounted (SPEC §4).
constexpr std::string_view kExecutionPrefix = "/execution";

// GET /.well-known/jwks.json: the public keys that validate tokens, for components and
// other services that check airlock's tokens themselves. Secrets are never listed.
http::Response JwksResponse(const jwt::KeySource& keys) {
  http::Response response = http::Response::Json(200, keys.Current()->ToJwks());
  response.SetHeader("Cache-Control", "public, max-age=300");
  return response;
}

void RunApiServer(const ApiServerArgs& args) {
  // First, before the audit writer, the key poller and the server start their threads.
  const sigset_t signals = BlockShutdownSignals();
  // Under a sanitizer, whose malloc is not glibc's, this is refused and changes nothing.
  (void)KeepFreedMemoryForReuse();
  auto context = OrFail(StartComponent(config::Component::kApiServer, args.config_path));
  const config::Config& config = context.config;
  const Clock& clock = SystemClock::Instance();

  auto store = OrFail(OpenConfiguredStore(config, args.migrate));
  auto signing_keys = OrFail(SigningKeySource(config));
  auto validation_keys = OrFail(ValidationKeySource(config, clock, signing_keys));

  jwt::ValidatorOptions validator_options{
      .audiences = {OrFail(config.GetString("execution_api", "jwt_audience"))},
      .leeway_seconds = OrFail(config.GetInt("api_auth", "jwt_leeway")),
      .cache_capacity = kVerifiedTokenCacheCapacity,
  };
  if (auto issuer = config.GetString("api_auth", "jwt_issuer"); issuer && !issuer->empty()) {
    validator_options.issuer = *issuer;
  }
  auto validator = OrFail(jwt::Validator::Create(validation_keys, validator_options, clock));
  jwt::TokenSigner signer(signing_keys, clock);

  execution_api::AuditWriter audit(
      *store,
      {.on_error = [](const Error& e) { LogError("audit log write failed: " + e.message()); },
       .on_dropped =
           [](size_t n) {
             LogError("audit log: " + std::to_string(n) +
                      " entries dropped: too many were waiting while the database could not "
                      "be written");
           }});
  execution_api::ExecutionApi execution_api(
      *store, *validator, signer, clock, &audit,
      {.token_validity_seconds = OrFail(config.GetInt("execution_api", "jwt_expiration_time")),
       .audience = validator_options.audiences.front()});

  // The REST API: its own validator over the same keys, with the REST audience, so that
  // an execution token is never a REST token and the reverse.
  jwt::ValidatorOptions rest_validator_options = validator_options;
  rest_validator_options.audiences = {OrFail(config.GetString("api_auth", "jwt_audience"))};
  auto rest_validator =
      OrFail(jwt::Validator::Create(validation_keys, rest_validator_options, clock));
  const int64_t rest_lifetime = OrFail(config.GetInt("api_auth", "jwt_expiration_time"));
  auto auth = OrFail(api::SimpleAuthManager::Create(
      *store, *rest_validator, signer, clock, &audit,
      {.audience = rest_validator_options.audiences.front(),
       .issuer = validator_options.issuer,
       .token_lifetime_seconds = rest_lifetime,
       .cli_token_lifetime_seconds = OrFail(config.GetInt("api_auth", "jwt_cli_expiration_time")),
       .login_limits = {.max_failures_per_user = static_cast<int>(
                            OrFail(config.GetInt("api_auth", "login_max_failures_per_user"))),
                        .max_failures_per_address = static_cast<int>(
                            OrFail(config.GetInt("api_auth", "login_max_failures_per_address"))),
                        .window = std::chrono::seconds(
                            OrFail(config.GetInt("api_auth", "login_failure_window")))}}));
  api::RestApi rest_api(*store, *auth, clock,
                        {.base_log_folder = OrFail(config.GetPath("logging", "base_log_folder")),
                         .masker = context.masker});
  // First start: users of [core] simple_auth_manager_users (or an admin) with generated
  // passwords, printed once on stdout after the "listening" line — never to the log.
  auto generated = OrFail(api::EnsureInitialUsers(
      *store, OrFail(config.GetString("core", "simple_auth_manager_users")), {}, clock));
  for (const auto& user : generated) LogInfo("created user '" + user.username + "'");
  api::RevokedTokenPurger purger(
      *store, clock, std::chrono::seconds(2 * rest_lifetime),
      std::chrono::seconds(validator_options.leeway_seconds),
      [](const Error& e) { LogError("purging revoked tokens failed: " + e.message()); });

  http::Router router;
  execution_api.AddRoutes(router, kExecutionPrefix);
  auth->AddRoutes(router);
  rest_api.AddRoutes(router);
  api::AddUiRoutes(router, *auth);
  router.Add(
      "GET", "/.well-known/jwks.json",
      [&validation_keys](const http::Request&, const http::PathParams&) {
        return JwksResponse(*validation_keys);
      },
      http::Blocks::kNo);
  // Routes that wait for the database or hash passwords run here, not on the I/O threads.
  http::BlockingPool blocking(kBlockingThreads);
  router.RunBlockingOn(blocking.Runner());

  http::ServerOptions options;
  options.host = args.host.empty() ? OrFail(config.GetString("api", "host")) : args.host;
  int64_t port = args.port >= 0 ? args.port : OrFail(config.GetInt("api", "port"));
  if (port < 0 || port > 65535) Fail(Error(ErrorCode::kInvalidArgument, "port out of range"));
  options.port = static_cast<uint16_t>(port);
  const int64_t workers = OrFail(config.GetInt("api", "workers"));
  if (workers < 0 || workers > kMaxServerThreads) {
    Fail(Error(ErrorCode::kInvalidArgument,
               "[api] workers must be from 0 (one thread per CPU core) to " +
                   std::to_string(kMaxServerThreads) + ", not " + std::to_string(workers)));
  }
  options.threads = static_cast<int>(workers);
  if (auto cert = config.GetPath("api", "ssl_cert"); cert) options.tls_cert_file = *cert;
  if (auto key = config.GetPath("api", "ssl_key"); key) options.tls_key_file = *key;
  options.on_response = [](const http::Request& request, int status,
                           std::chrono::microseconds elapsed) {
    if (!LogEnabled(LogLevel::kInfo)) return;
    // The target is logged without its query: queries are where clients put secrets.
    LogInfo(request.remote_address + " \"" + request.method + " " + request.path + "\" " +
            std::to_string(status) + " " + std::to_string(elapsed.count()) +
            "us id=" + request.request_id);
  };

  // What the server answers itself (an oversize or malformed request) is logged the same
  // way, and audited when it was an Execution API call.
  options.on_refused = [&execution_api](const http::Request& request, int status) {
    if (LogEnabled(LogLevel::kInfo)) {
      LogInfo(request.remote_address + " \"" + request.method + " " + request.path + "\" " +
              std::to_string(status) + " refused id=" + request.request_id);
    }
    execution_api.AuditRefused(request, status, kExecutionPrefix);
  };

  auto print_generated_passwords = [&generated] {
    for (auto& user : generated) {
      std::cout << "Simple auth manager | Password for user '" << user.username
                << "': " << user.password << std::endl;
      api::WipePassword(user.password);
    }
    generated.clear();
  };
  auto started =
      http::Server::Start(options, [&router](const http::Request& request, http::Respond respond) {
        router.Dispatch(request, std::move(respond));
      });
  if (!started) print_generated_passwords();  // the users exist now: do not lose them
  auto server = OrFail(std::move(started));
  const char* scheme = options.tls_cert_file.empty() ? "http" : "https";
  LogInfo(std::string("listening on ") + scheme + "://" + options.host + ":" +
          std::to_string(server->port()));
  // Scripts that start the server on port 0 read the port from this line on stdout.
  std::cout << "api-server listening on " << scheme << "://" << options.host << ":"
            << server->port() << std::endl;
  print_generated_passwords();

  WaitForShutdown(signals);
  server->Shutdown();
  if (auto flushed = audit.Flush(); !flushed) {
    LogError("final audit log flush failed: " + flushed.error().message());
  }
  LogInfo("stopped");
}

}  // namespace

void RegisterApiServerCommands(CLI::App& app) {
  auto args = std::make_shared<ApiServerArgs>();
  CLI::App* cmd = app.add_subcommand(
      "api-server",
      "Serve the Execution API (/execution), the REST API (/api/v2, /auth), the UI (/) and "
      "the JWKS (/.well-known/jwks.json). Stops gracefully on SIGTERM or SIGINT.");
  cmd->add_option("--config", args->config_path,
                  "Config file (default: $AIRLOCK_HOME/airlock.cfg)");
  cmd->add_option("--host", args->host, "Address to listen on (default: [api] host)");
  cmd->add_option("--port", args->port,
                  "Port to listen on; 0 picks a free one (default: [api] port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_flag("--migrate", args->migrate,
                "Apply pending database migrations first (else a database not at the current "
                "schema is refused)");
  cmd->callback([args] { RunApiServer(*args); });
}

}  // namespace airlock::cli
