#pragma once
// DagProcessor: reads the Dag files of one local bundle folder (one of [dag_processor]
// bundles, or [core] dags_folder) and submits them to the api-server's Execution API
// (PUT /execution/dags/{dag_id}) with a dag_processor token scoped to that bundle. It holds
// no database credentials and no signing key (SPEC §1): everything it writes goes through
// the api-server, which checks the token's bundles and validates each Dag again.
// A Dag file is either YAML (*.yaml / *.yml) or an executable file (any other name with an
// execute bit), which is run with the supervisor's hardening and limits and prints its Dags
// as JSON (executable_dag.h).
// One ProcessOnce() is one pass over the folder:
//   - every Dag file under the folder (hidden files and folders skipped, symbolic links
//     not followed), in path order, is handled on its own: a bad file — a YAML error, an
//     executable that hangs, crashes, exits non-zero, prints garbage or too much — is an
//     import error for that file only and affects no other Dag;
//   - a file is parsed (or run) again only when it changed — its mtime, size or mode
//     first, then its SHA-256 — and is looked at no more often than every
//     min_file_process_interval seconds; otherwise its last result is reused;
//   - the bundle's version is a SHA-256 over the paths and contents of all its Dag files,
//     recorded in every serialized Dag ("bundle": {"name", "version"}); a Dag is submitted
//     when its serialized form differs from what this processor last submitted, or the
//     api-server does not hold it;
//   - a dag_id defined by two files is kept from the first and reported for the second;
//   - Dags the api-server holds for this bundle whose file is gone are deleted; a Dag whose
//     file exists but no longer parses is left as it was (its last good version keeps
//     running), as Airflow does with import errors;
//   - the bundle's import errors (one per file) are sent to PUT /execution/import-errors
//     whenever they differ from the last set the api-server accepted, so the REST API
//     (GET /api/v2/importErrors) shows the current ones.
// Not thread-safe: one thread calls ProcessOnce. The token is never logged. Before it runs
// any executable file, ProcessOnce makes this process non-dumpable (so the child, even as
// the same user, cannot read the token from /proc/<pid>/environ or memory).

#include <sys/stat.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "dag_processor/executable_dag.h"
#include "dags/dag.h"
#include "http/client.h"

namespace airlock::dag_processor {

// How requests reach the api-server: http::Send in production, a router in tests.
using Transport = std::function<Result<http::ClientResponse>(const http::ClientRequest&)>;

struct DagProcessorOptions {
  std::string dags_folder;
  std::string bundle_name = "dags-folder";
  // [core] execution_api_server_url, e.g. "http://localhost:8080/execution/".
  std::string execution_api_url;
  std::string token;  // [dag_processor] api_token
  // [dag_processor] min_file_process_interval: seconds before a file is looked at again.
  int64_t min_file_process_interval = 30;
  // How executable Dag files run: limits, user, the environment's allow-listed source.
  // An empty cwd means the bundle folder.
  ExecutableRunOptions executable;
  // Reads "now" for min_file_process_interval and import error times; not owned.
  const Clock* clock = &SystemClock::Instance();
};

struct ProcessStats {
  int files = 0;
  int parsed = 0;  // files parsed or run in this pass (the rest were unchanged)
  int submitted = 0;
  int deleted = 0;
  std::string bundle_version;
  // One entry per problem: "etl.yaml:12: …", "etl.py: exited with code 1\n<stderr>", or a
  // request failure.
  std::vector<std::string> errors;
};

class DagProcessor {
 public:
  DagProcessor(DagProcessorOptions options, Transport transport);

  // Fails only when the folder cannot be read or the api-server cannot be reached for the
  // list of this bundle's Dags; everything else is in ProcessStats::errors.
  Result<ProcessStats> ProcessOnce();

 private:
  // What the processor remembers of one Dag file between passes.
  struct FileState {
    struct timespec mtime {};
    off_t size = -1;
    mode_t mode = 0;
    std::string sha256;               // hex, of the content last parsed
    int64_t checked_at = 0;           // clock seconds of the last stat
    std::vector<dags::DagSpec> dags;  // empty when `error` is set
    std::string error;                // the import error, or empty
  };

  Result<http::ClientResponse> Call(const std::string& method, const std::string& path,
                                    std::string body = "");
  // Brings files_[file] up to date, parsing or running the file if it changed.
  void Refresh(const std::string& file, bool executable, ProcessStats& stats);
  void Parse(const std::string& file, bool executable, const std::string& content,
             FileState& state);
  void ReportImportErrors(const std::map<std::string, std::string>& errors, ProcessStats& stats);

  const DagProcessorOptions options_;
  Transport transport_;
  std::map<std::string, FileState> files_;        // by path relative to the folder
  std::map<std::string, std::string> submitted_;  // dag_id → serialized form last accepted
  std::optional<std::map<std::string, std::string>> reported_errors_;  // last accepted set
  bool non_dumpable_ = false;
};

}  // namespace airlock::dag_processor
