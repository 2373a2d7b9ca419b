#pragma once
// DagProcessor: reads the YAML Dag files of one local bundle folder ([core] dags_folder)
// and submits them to the api-server's Execution API (PUT /execution/dags/{dag_id}) with
// a dag_processor token scoped to that bundle. It holds no database credentials and no
// signing key (SPEC §1): everything it writes goes through the api-server, which checks
// the token's bundles and validates each Dag again.
// One ProcessOnce() is one pass over the folder:
//   - every *.yaml / *.yml file under the folder (hidden files and folders skipped,
//     symbolic links not followed), in path order, is parsed on its own: a bad file is
//     reported (file:line: problem) and affects no other Dag;
//   - a dag_id defined by two files is kept from the first and reported for the second;
//   - Dags the api-server holds for this bundle whose file is gone are deleted; a Dag whose
//     file exists but no longer parses is left as it was (its last good version keeps
//     running), as Airflow does with import errors.
// Not thread-safe: one thread calls ProcessOnce. The token is never logged.

#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
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
};

struct ProcessStats {
  int files = 0;
  int submitted = 0;
  int deleted = 0;
  std::vector<std::string> errors;  // one line each: "etl.yaml:12: …", or a request failure
};

class DagProcessor {
 public:
  DagProcessor(DagProcessorOptions options, Transport transport);

  // Fails only when the folder cannot be read or the api-server cannot be reached for the
  // list of this bundle's Dags; everything else is in ProcessStats::errors.
  Result<ProcessStats> ProcessOnce();

 private:
  Result<http::ClientResponse> Call(const std::string& method, const std::string& path,
                                    std::string body = "");

  const DagProcessorOptions options_;
  Transport transport_;
};

}  // namespace airlock::dag_processor
