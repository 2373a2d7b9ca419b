// airlock standalone: the whole control plane on one machine, as separate processes with
// separate configuration (SPEC §1) — api-server, scheduler (with the local executor and
// its supervisors), dag-processor and triggerer, each re-executed from this binary with a
// config file that holds only what that component needs:
//
//   component      database URL  signing key  fernet key  its own token
//   api-server     yes           yes          yes         -
//   scheduler      yes           yes          yes         -
//   dag-processor  -             -            -           dag_processor (its bundles)
//   triggerer      -             -            -           triggerer (claim/renew only)
//   worker         -             -            -           - (the per-task token only)
//
// First start under $AIRLOCK_HOME/standalone/ (0700): a key directory jwt_keys/ (an active
// and a next Ed25519 key, src/jwt/key_directory.h), so that `airlock keys rotate --dir
// $AIRLOCK_HOME/standalone/jwt_keys` rotates the signing key while standalone runs, and a
// fernet key (fernet_key, 0600). A home made before key directories keeps its single key
// file (jwt_signing_key.pem) while the file is there. Every start: the
// per-component config files (0600, rewritten so that --host/--port apply), a fresh
// dag-processor token (scope dag_processor, covering [dag_processor] bundles or bundle_name,
// valid 365 days) and triggerer token (scope triggerer, 365 days), the database migrated, the
// example variable and connection created if missing, and the examples/dags/ Dags copied into an
// empty or new dags folder. Children get the environment without AIRLOCK__* variables (a database
// URL set there for the standalone process must not reach the dag-processor),
// PR_SET_PDEATHSIG(SIGTERM), and an empty signal mask. SIGINT/SIGTERM stop every child (SIGTERM,
// then SIGKILL after 15 s); a child that exits on its own stops the others and standalone exits
// non-zero.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "cli/commands.h"
#include "common/files.h"
#include "common/random.h"
#include "config/config.h"
#include "dag_processor/bundles.h"
#include "http/client.h"
#include "jwt/base64url.h"
#include "jwt/key.h"
#include "jwt/key_directory.h"
#include "jwt/key_source.h"
#include "jwt/signer.h"
#include "store/store.h"

extern char** environ;

namespace airlock::cli {

namespace {

namespace fs = std::filesystem;

constexpr int kProcessorTokenDays = 365;
constexpr auto kStopGrace = std::chrono::seconds(15);
constexpr auto kApiStartTimeout = std::chrono::seconds(60);

[[noreturn]] void Fail(const std::string& message) {
  std::cerr << "airlock standalone: " << message << std::endl;
  throw CLI::RuntimeError(kExitFailure);
}

template <typename T>
T OrFail(Result<T> result, const std::string& what) {
  if (!result) Fail(what + ": " + result.error().message());
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

struct StandaloneArgs {
  std::string host;
  int port = -1;
};

// A secret file created once (0600) and read on every later start.
std::string SecretFile(const std::string& path, const std::function<Result<std::string>()>& make) {
  if (!fs::exists(path)) {
    std::string value = OrFail(make(), "generating " + path);
    auto written = WriteNewFile(path, value, 0600);
    if (!written && written.error().code() != ErrorCode::kAlreadyExists) {
      Fail(written.error().message());
    }
  }
  std::string value = OrFail(ReadFile(path), "reading " + path);
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

// Replaces `path` with `text`, 0600. The folder is 0700 and ours, so remove + create is safe.
void WriteConfig(const std::string& path, const std::string& text) {
  fs::remove(path);
  auto written = WriteNewFile(path, text, 0600);
  if (!written) Fail(written.error().message());
}

struct Child {
  std::string name;
  pid_t pid = -1;
};

// fork + exec of this binary as one component. Everything exec needs is built before
// fork: between fork and exec the child only makes async-signal-safe calls.
Child Spawn(const std::string& binary, const std::string& name,
            const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) Fail(std::string("fork(): ") + strerror(errno));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);  // the parent died before PR_SET_PDEATHSIG
    execve(binary.c_str(), argv.data(), envp.data());
    const char msg[] = "airlock standalone: execve failed\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  return Child{name, pid};
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

void StopAll(std::vector<Child>& children) {
  for (const Child& c : children) {
    if (c.pid > 0) kill(c.pid, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  for (Child& c : children) {
    while (c.pid > 0) {
      int status = 0;
      pid_t done = waitpid(c.pid, &status, WNOHANG);
      if (done == c.pid || (done < 0 && errno == ECHILD)) {
        std::cout << "airlock standalone: " << c.name << " stopped" << std::endl;
        c.pid = -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        std::cout << "airlock standalone: " << c.name << " did not stop in time; SIGKILL"
                  << std::endl;
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
        c.pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

// Where examples/dags/ is: beside an installed binary, else the source tree it was built from.
std::optional<fs::path> ExamplesFolder(const fs::path& binary) {
  for (fs::path candidate :
       {binary.parent_path() / "../share/airlock/examples/dags", fs::path(AIRLOCK_EXAMPLES_DIR)}) {
    std::error_code ec;
    if (fs::is_directory(candidate, ec)) return candidate;
  }
  return std::nullopt;
}

void SeedExamples(const std::string& db_url, const std::string& fernet_key) {
  auto store = OrFail(store::OpenStore(db_url, {.fernet_key = fernet_key}), "opening the database");
  OrFail(store->Migrate(), "migrating the database");
  if (!store->GetVariable("example_greeting")) {
    OrFail(store->SetVariable({.key = "example_greeting",
                               .value = "Hello from airlock",
                               .description = "Read by the example_xcom Dag"}),
           "creating the example variable");
  }
  if (!store->GetConnection("example_http")) {
    auto password = OrFail(RandomBytes(18), "generating a password");
    OrFail(store->SetConnection({.conn_id = "example_http",
                                 .conn_type = "http",
                                 .host = "example.invalid",
                                 .login = "example",
                                 .password = jwt::Base64UrlEncode(password),
                                 .port = 443}),
           "creating the example connection");
  }
}

void RunStandalone(const StandaloneArgs& args) {
  // Signals first: the children are started with an empty mask, and this process waits.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto config = OrFail(config::LoadProcessConfig({}), "configuration");
  const char* home_env = std::getenv("AIRLOCK_HOME");
  const char* user_home = std::getenv("HOME");
  const fs::path home = home_env && *home_env
                            ? fs::path(home_env)
                            : fs::path(user_home ? user_home : "/root") / "airlock";
  const fs::path dir = home / "standalone";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) Fail("creating " + dir.string() + ": " + ec.message());
  ::chmod(home.c_str(), 0700);
  ::chmod(dir.c_str(), 0700);

  const std::string host =
      args.host.empty() ? OrFail(config.GetString("api", "host"), "[api] host") : args.host;
  const int64_t port =
      args.port >= 0 ? args.port : OrFail(config.GetInt("api", "port"), "[api] port");
  if (port <= 0 || port > 65535) Fail("--port must be between 1 and 65535");
  const std::string local_host = (host == "0.0.0.0" || host == "::") ? "127.0.0.1" : host;
  const std::string base_url = "http://" + local_host + ":" + std::to_string(port);
  const std::string execution_url = base_url + "/execution/";
  const std::string db_url =
      OrFail(config.GetString("database", "sql_alchemy_conn"), "[database] sql_alchemy_conn");
  const std::string dags_folder =
      OrFail(config.GetPath("core", "dags_folder"), "[core] dags_folder");
  const std::string log_folder =
      OrFail(config.GetPath("logging", "base_log_folder"), "[logging] base_log_folder");
  const std::string audience =
      OrFail(config.GetString("execution_api", "jwt_audience"), "[execution_api] jwt_audience");

  // The signing keys: the key directory, or the single file of an older home (its tokens,
  // a logged-in user's say, stay valid). Either way every component that signs or
  // validates is given the path.
  const std::string legacy_key_file = (dir / "jwt_signing_key.pem").string();
  const bool legacy_key = fs::exists(legacy_key_file);
  const std::string key_path = legacy_key ? legacy_key_file : (dir / "jwt_keys").string();
  jwt::KeySet signing_keys = [&] {
    if (legacy_key) {
      return jwt::KeySet::Single(
          OrFail(jwt::LoadKeyFile(key_path, std::nullopt, ""), "loading the signing key"));
    }
    const jwt::KeyDirectory keys(key_path);
    auto loaded = keys.Load();
    if (loaded) return std::move(*loaded);
    if (loaded.error().code() != ErrorCode::kNotFound) {
      Fail("loading the signing keys in " + key_path + ": " + loaded.error().message());
    }
    return OrFail(keys.Rotate({}), "creating the signing keys in " + key_path);
  }();
  const std::string fernet_key =
      SecretFile((dir / "fernet_key").string(), []() -> Result<std::string> {
        auto bytes = RandomBytes(32);
        if (!bytes) return std::unexpected(bytes.error());
        return jwt::Base64UrlEncode(*bytes);
      });

  // The dag-processor's token, minted fresh at every start, covering its bundles.
  auto bundles_text = config.GetString("dag_processor", "bundles");
  const auto bundles = OrFail(
      dag_processor::ParseBundles(bundles_text ? *bundles_text : "",
                                  {.name = OrFail(config.GetString("dag_processor", "bundle_name"),
                                                  "[dag_processor] bundle_name"),
                                   .path = dags_folder}),
      "[dag_processor] bundles");
  jwt::TokenSigner signer(std::make_shared<jwt::StaticKeySource>(std::move(signing_keys)),
                          SystemClock::Instance());
  const std::string processor_token =
      OrFail(signer.Mint({.sub = "dag-processor",
                          .aud = {audience},
                          .ttl_seconds = int64_t{kProcessorTokenDays} * 86400,
                          .scope = "dag_processor",
                          .extra_claims = {{"bundles", dag_processor::BundlesClaim(bundles)}}}),
             "minting the dag-processor token");
  const std::string triggerer_token =
      OrFail(signer.Mint({.sub = "triggerer",
                          .aud = {audience},
                          .ttl_seconds = int64_t{kProcessorTokenDays} * 86400,
                          .scope = "triggerer"}),
             "minting the triggerer token");

  // Each component's file: the values standalone decides, then every option you set for
  // standalone itself (airlock.cfg or AIRLOCK__ variables) that the schema says that
  // component needs — a sensitive one only there, so the dag-processor never gets your
  // database URL.
  using Values = std::map<std::string, std::map<std::string, std::string>>;
  auto config_text = [&](config::Component component, Values values) {
    for (const config::ResolvedOption& option : config.options()) {
      if (!option.is_set() || !option.value || !option.spec->NeededBy(component)) continue;
      values[option.spec->section].emplace(option.spec->name, *option.value);
    }
    std::string text;
    for (const auto& [section, options] : values) {
      text += "[" + section + "]\n";
      for (const auto& [name, value] : options) text += name + " = " + value + "\n";
    }
    return text;
  };
  const std::string api_cfg = (dir / "api-server.cfg").string();
  const std::string scheduler_cfg = (dir / "scheduler.cfg").string();
  const std::string processor_cfg = (dir / "dag-processor.cfg").string();
  const std::string triggerer_cfg = (dir / "triggerer.cfg").string();
  WriteConfig(api_cfg, config_text(config::Component::kApiServer,
                                   {{"core", {{"fernet_key", fernet_key}}},
                                    {"database", {{"sql_alchemy_conn", db_url}}},
                                    {"api", {{"host", host}, {"port", std::to_string(port)}}},
                                    {"api_auth", {{"jwt_private_key_path", key_path}}},
                                    {"logging", {{"base_log_folder", log_folder}}}}));
  WriteConfig(
      scheduler_cfg,
      config_text(
          config::Component::kScheduler,
          {{"core", {{"fernet_key", fernet_key}, {"execution_api_server_url", execution_url}}},
           {"database", {{"sql_alchemy_conn", db_url}}},
           {"api_auth", {{"jwt_private_key_path", key_path}}},
           {"logging", {{"base_log_folder", log_folder}}}}));
  WriteConfig(
      processor_cfg,
      config_text(
          config::Component::kDagProcessor,
          {{"core", {{"dags_folder", dags_folder}, {"execution_api_server_url", execution_url}}},
           {"dag_processor", {{"api_token", processor_token}}},
           {"logging", {{"base_log_folder", log_folder}}}}));
  WriteConfig(triggerer_cfg, config_text(config::Component::kTriggerer,
                                         {{"core", {{"execution_api_server_url", execution_url}}},
                                          {"triggerer", {{"api_token", triggerer_token}}}}));

  SeedExamples(db_url, fernet_key);

  const fs::path binary = fs::read_symlink("/proc/self/exe", ec);
  if (ec) Fail("readlink(/proc/self/exe): " + ec.message());
  bool fresh_dags = !fs::exists(dags_folder) || fs::is_empty(dags_folder, ec);
  fs::create_directories(dags_folder, ec);
  if (fresh_dags) {
    if (auto examples = ExamplesFolder(binary)) {
      for (const auto& entry : fs::directory_iterator(*examples)) {
        fs::copy_file(entry.path(), fs::path(dags_folder) / entry.path().filename(),
                      fs::copy_options::skip_existing, ec);
      }
      std::cout << "airlock standalone: copied the example Dags into " << dags_folder << std::endl;
    }
  }

  // The children's environment: ours without AIRLOCK__* variables.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.starts_with("AIRLOCK__") || entry.starts_with("AIRLOCK_HOME=")) continue;
    env.emplace_back(entry);
  }
  env.push_back("AIRLOCK_HOME=" + home.string());

  std::vector<Child> children;
  children.push_back(Spawn(binary, "api-server", {"api-server", "--config", api_cfg}, env));
  // The others need the api-server: wait for its health route.
  const auto deadline = std::chrono::steady_clock::now() + kApiStartTimeout;
  while (true) {
    auto health =
        http::Send({.url = execution_url + "health"}, {.timeout = std::chrono::seconds(2)});
    if (health && health->status == 200) break;
    int status = 0;
    if (waitpid(children[0].pid, &status, WNOHANG) == children[0].pid) {
      children[0].pid = -1;
      Fail("the api-server " + Describe(status));
    }
    timespec wait{.tv_sec = 0, .tv_nsec = 100'000'000};
    int received = sigtimedwait(&signals, nullptr, &wait);
    if (std::chrono::steady_clock::now() > deadline || received == SIGINT || received == SIGTERM) {
      StopAll(children);
      if (received == SIGINT || received == SIGTERM) return;
      Fail("the api-server did not answer on " + execution_url + "health in time");
    }
  }
  children.push_back(Spawn(binary, "scheduler", {"scheduler", "--config", scheduler_cfg}, env));
  children.push_back(
      Spawn(binary, "dag-processor", {"dag-processor", "--config", processor_cfg}, env));
  children.push_back(Spawn(binary, "triggerer", {"triggerer", "--config", triggerer_cfg}, env));
  std::cout << "airlock standalone is running: api-server, scheduler, dag-processor and "
               "triggerer\n"
            << "  UI and REST API:  " << base_url << "/\n"
            << "  Execution API:    " << execution_url << "\n"
            << "  Dags folder:      " << dags_folder << "\n"
            << "  Configuration:    " << dir.string() << "/*.cfg (one per component)\n"
            << "  Stop with Ctrl-C." << std::endl;

  int exit_code = 0;
  while (true) {
    int received = sigwaitinfo(&signals, nullptr);
    if (received == SIGINT || received == SIGTERM) {
      std::cout << "airlock standalone: stopping" << std::endl;
      break;
    }
    if (received != SIGCHLD) continue;
    bool died = false;
    for (Child& c : children) {
      int status = 0;
      if (c.pid > 0 && waitpid(c.pid, &status, WNOHANG) == c.pid) {
        std::cerr << "airlock standalone: " << c.name << " " << Describe(status)
                  << "; stopping the others" << std::endl;
        c.pid = -1;
        died = true;
      }
    }
    if (died) {
      exit_code = kExitFailure;
      break;
    }
  }
  StopAll(children);
  if (exit_code != 0) throw CLI::RuntimeError(exit_code);
}

}  // namespace

void RegisterStandaloneCommand(CLI::App& app) {
  auto args = std::make_shared<StandaloneArgs>();
  CLI::App* cmd = app.add_subcommand(
      "standalone",
      "Run api-server, scheduler, dag-processor and triggerer on this machine as separate "
      "processes, each "
      "with only the configuration it needs (generated under $AIRLOCK_HOME/standalone). "
      "Ctrl-C stops them all.");
  cmd->add_option("--host", args->host, "Address the api-server listens on (default: [api] host)");
  cmd->add_option("--port", args->port, "Port of the api-server (default: [api] port)")
      ->check(CLI::Range(1, 65535));
  cmd->callback([args] { RunStandalone(*args); });
}

}  // namespace airlock::cli
