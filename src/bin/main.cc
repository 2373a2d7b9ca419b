// airlock: the one binary. This file only builds the command tree and turns CLI11's
// outcomes into exit codes; each command group lives in src/cli/.

#include <sys/prctl.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // Every airlock process is non-dumpable from its first instruction on: a task of the same
  // Unix user can then neither read its memory, environ or maps nor ptrace it (SPEC §5).
  // Processes it execs become dumpable again (execve resets the flag).
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  CLI::App app{"airlock: a task-execution control plane built around JWT-authenticated APIs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "airlock 0.1.0");
  airlock::cli::RegisterKeysCommands(app);
  airlock::cli::RegisterTokenCommands(app);
  airlock::cli::RegisterBenchCommands(app);
  airlock::cli::RegisterConfigCommands(app);
  airlock::cli::RegisterDocsCommands(app);
  airlock::cli::RegisterHeartbeatFixtureCommand(app);
  airlock::cli::RegisterApiServerCommands(app);
  airlock::cli::RegisterUsersCommands(app);
  airlock::cli::RegisterDbCommands(app);
  airlock::cli::RegisterSchedulerCommands(app);
  airlock::cli::RegisterStandaloneCommand(app);
  airlock::cli::RegisterSuperviseCommand(app);
  airlock::cli::RegisterTaskCommands(app);
  airlock::cli::RegisterTaskFixtureCommand(app);
  airlock::cli::RegisterSupervisorBenchCommand(app);
  airlock::cli::RegisterDagsCommands(app);
  airlock::cli::RegisterTasksBenchCommand(app);
  airlock::cli::RegisterTriggererCommand(app);
  airlock::cli::RegisterTriggersBenchCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    // Raised by a command after it printed its own message.
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the usage error
    return airlock::cli::kExitUsage;
  }
  return 0;
}
