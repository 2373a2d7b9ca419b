#include "dag_processor/dag_processor.h"

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "common/files.h"
#include "dags/yaml_dag.h"

namespace airlock::dag_processor {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

bool IsDagFile(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// The Dag files under `root`, relative to it, sorted; hidden entries and symlinks skipped.
Result<std::vector<std::string>> ListDagFiles(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return NotFound("dags folder " + root + " does not exist or is not a folder");
  }
  std::vector<std::string> files;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) return Unavailable("reading " + root + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Unavailable("reading " + root + ": " + ec.message());
    const fs::path& path = it->path();
    if (path.filename().string().starts_with(".")) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink(ec)) continue;
    if (!it->is_regular_file(ec) || !IsDagFile(path)) continue;
    files.push_back(fs::relative(path, root, ec).string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Detail(const http::ClientResponse& response) {
  boost::system::error_code ec;
  json::value body = json::parse(response.body, ec);
  if (!ec && body.is_object()) {
    if (const json::value* detail = body.as_object().if_contains("detail")) {
      return detail->is_string() ? std::string(detail->as_string()) : json::serialize(*detail);
    }
  }
  return "HTTP " + std::to_string(response.status);
}

}  // namespace

DagProcessor::DagProcessor(DagProcessorOptions options, Transport transport)
    : options_(std::move(options)), transport_(std::move(transport)) {}

Result<http::ClientResponse> DagProcessor::Call(const std::string& method, const std::string& path,
                                                std::string body) {
  std::string base = options_.execution_api_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  http::ClientRequest request{.method = method,
                              .url = base + path,
                              .headers = {{"Authorization", "Bearer " + options_.token}},
                              .body = std::move(body)};
  if (!request.body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  return transport_(request);
}

Result<ProcessStats> DagProcessor::ProcessOnce() {
  ProcessStats stats;
  auto files = ListDagFiles(options_.dags_folder);
  if (!files) return std::unexpected(files.error());

  auto listed = Call("GET", "/dags");
  if (!listed) return std::unexpected(listed.error());
  if (listed->status != 200) {
    return Unavailable("GET /execution/dags: " + Detail(*listed));
  }
  // The Dags the api-server holds for this bundle, by dag_id → their file.
  std::map<std::string, std::string> stored;
  boost::system::error_code ec;
  json::value list = json::parse(listed->body, ec);
  if (!ec && list.is_object()) {
    if (const json::value* dags = list.as_object().if_contains("dags"); dags && dags->is_array()) {
      for (const json::value& d : dags->as_array()) {
        if (!d.is_object()) continue;
        const json::object& o = d.as_object();
        const json::value* id = o.if_contains("dag_id");
        const json::value* bundle = o.if_contains("bundle");
        const json::value* fileloc = o.if_contains("fileloc");
        if (id && id->is_string() && bundle && bundle->is_string() &&
            bundle->as_string() == options_.bundle_name) {
          stored[std::string(id->as_string())] =
              fileloc && fileloc->is_string() ? std::string(fileloc->as_string()) : "";
        }
      }
    }
  }

  std::set<std::string> present_files;
  std::map<std::string, std::string> seen;  // dag_id → file
  for (const std::string& file : *files) {
    ++stats.files;
    present_files.insert(file);
    auto text = ReadFile(options_.dags_folder + "/" + file, dags::kMaxYamlBytes);
    if (!text) {
      stats.errors.push_back(file + ": " + text.error().message());
      continue;
    }
    auto dag = dags::ParseYamlDag(*text, file);
    if (!dag) {
      stats.errors.push_back(dag.error().message());
      continue;
    }
    if (auto it = seen.find(dag->dag_id); it != seen.end()) {
      stats.errors.push_back(file + ": dag_id '" + dag->dag_id + "' is already defined in " +
                             it->second);
      continue;
    }
    seen[dag->dag_id] = file;
    dag->fileloc = file;
    dag->bundle_name = options_.bundle_name;
    auto put = Call("PUT", "/dags/" + dag->dag_id, dags::SerializeDag(*dag));
    if (!put) {
      stats.errors.push_back(file + ": submitting: " + put.error().message());
    } else if (put->status != 200 && put->status != 201) {
      stats.errors.push_back(file + ": the api-server refused Dag '" + dag->dag_id +
                             "': " + Detail(*put));
    } else {
      ++stats.submitted;
    }
  }

  // Dags whose file is gone. A Dag whose file is still there but failed to parse stays.
  for (const auto& [dag_id, fileloc] : stored) {
    if (seen.count(dag_id) || present_files.count(fileloc)) continue;
    auto deleted = Call("DELETE", "/dags/" + dag_id);
    if (!deleted) {
      stats.errors.push_back("deleting Dag '" + dag_id + "': " + deleted.error().message());
    } else if (deleted->status != 204 && deleted->status != 404) {
      stats.errors.push_back("deleting Dag '" + dag_id + "': " + Detail(*deleted));
    } else {
      ++stats.deleted;
    }
  }
  return stats;
}

}  // namespace airlock::dag_processor
