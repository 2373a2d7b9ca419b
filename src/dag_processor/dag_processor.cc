#include "dag_processor/dag_processor.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "common/files.h"
#include "dags/yaml_dag.h"
#include "supervisor/supervisor.h"

namespace airlock::dag_processor {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// An executable Dag file is read whole to be hashed; a bigger one is an import error.
constexpr size_t kMaxExecutableBytes = 256 << 20;

bool IsYaml(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

struct DagFile {
  std::string path;  // relative to the folder
  bool executable = false;
  bool operator<(const DagFile& other) const { return path < other.path; }
};

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

// `text` with every byte that is not part of well-formed UTF-8, and every NUL, replaced by
// U+FFFD: what an executable prints on stderr goes to the database and to JSON as text.
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && c != 0 && i + len <= text.size() && !(len == 2 && c < 0xc2) &&
              !(len == 4 && c > 0xf4);
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len == 3) {
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogate
    }
    if (ok && len == 4) {
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);  // overlong, > U+10FFFF
    }
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// The Dag files under `root`, sorted: YAML files, and other regular files with an execute
// bit; hidden entries and symlinks skipped.
Result<std::vector<DagFile>> ListDagFiles(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return NotFound("dags folder " + root + " does not exist or is not a folder");
  }
  std::vector<DagFile> files;
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
    if (!it->is_regular_file(ec)) continue;
    const bool yaml = IsYaml(path);
    const bool executable =
        !yaml && (it->status(ec).permissions() & (fs::perms::owner_exec | fs::perms::group_exec |
                                                  fs::perms::others_exec)) != fs::perms::none;
    if (!yaml && !executable) continue;
    files.push_back({fs::relative(path, root, ec).string(), executable});
  }
  std::sort(files.begin(), files.end());
  return files;
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

void DagProcessor::Parse(const std::string& file, bool executable, const std::string& content,
                         FileState& state) {
  state.dags.clear();
  state.error.clear();
  if (!executable) {
    auto dag = dags::ParseYamlDag(content, file);
    if (dag) {
      state.dags.push_back(std::move(*dag));
    } else {
      state.error = dag.error().message();
    }
    return;
  }
  if (!non_dumpable_) {
    // Before the first file runs: the child may be the same user as this process.
    if (auto made = supervisor::MakeNonDumpable(); !made) {
      state.error = file + ": not run: " + made.error().message();
      return;
    }
    non_dumpable_ = true;
  }
  ExecutableRunOptions run = options_.executable;
  if (run.cwd.empty()) run.cwd = options_.dags_folder;
  auto output = RunExecutableDagFile(options_.dags_folder + "/" + file, run);
  if (!output) {
    state.error = file + ": " + output.error().message();
    return;
  }
  auto dags = ParseJsonDags(*output, file);
  if (!dags) {
    state.error = dags.error().message();
    return;
  }
  state.dags = std::move(*dags);
}

void DagProcessor::Refresh(const std::string& file, bool executable, ProcessStats& stats) {
  const int64_t now = options_.clock->NowSeconds();
  auto [it, inserted] = files_.try_emplace(file);
  FileState& state = it->second;
  if (!inserted && now - state.checked_at < options_.min_file_process_interval) return;
  state.checked_at = now;
  const std::string full = options_.dags_folder + "/" + file;
  struct stat st {};
  if (lstat(full.c_str(), &st) != 0) {
    state = FileState{.checked_at = now, .error = file + ": " + std::strerror(errno)};
    return;
  }
  if (!inserted && st.st_mtim.tv_sec == state.mtime.tv_sec &&
      st.st_mtim.tv_nsec == state.mtime.tv_nsec && st.st_size == state.size &&
      st.st_mode == state.mode) {
    return;
  }
  auto content = ReadFile(full, executable ? kMaxExecutableBytes : dags::kMaxYamlBytes);
  const mode_t old_mode = state.mode;
  state.mtime = st.st_mtim;
  state.size = st.st_size;
  state.mode = st.st_mode;
  if (!content) {
    state.sha256.clear();
    state.dags.clear();
    state.error = file + ": " + content.error().message();
    return;
  }
  std::string sha256 = Sha256Hex(*content);
  if (!inserted && sha256 == state.sha256 && old_mode == st.st_mode) return;
  state.sha256 = std::move(sha256);
  ++stats.parsed;
  Parse(file, executable, *content, state);
}

Result<ProcessStats> DagProcessor::ProcessOnce() {
  ProcessStats stats;
  auto files = ListDagFiles(options_.dags_folder);
  if (!files) return std::unexpected(files.error());

  auto listed = Call("GET", "/dags");
  if (!listed) return std::unexpected(listed.error());
  if (listed->status != 200) {
    return Unavailable("GET /execution/dags: " + listed->Detail());
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

  // Bring every file up to date; forget the files that are gone.
  std::set<std::string> present_files;
  std::string version_input;
  for (const DagFile& file : *files) {
    ++stats.files;
    present_files.insert(file.path);
    Refresh(file.path, file.executable, stats);
    version_input += file.path + '\0' + files_[file.path].sha256 + '\n';
  }
  std::erase_if(files_, [&](const auto& entry) { return !present_files.count(entry.first); });
  stats.bundle_version = Sha256Hex(version_input);

  std::map<std::string, std::string> import_errors;  // file → message
  auto problem = [&](const std::string& file, const std::string& raw) {
    const std::string message = ValidUtf8(raw);
    std::string& entry = import_errors[file];
    entry += (entry.empty() ? "" : "\n") + message;
    stats.errors.push_back(message);
  };
  std::map<std::string, std::string> seen;  // dag_id → file
  for (const DagFile& file : *files) {
    const FileState& state = files_[file.path];
    if (!state.error.empty()) {
      problem(file.path, state.error);
      continue;
    }
    for (dags::DagSpec dag : state.dags) {
      if (auto it = seen.find(dag.dag_id); it != seen.end()) {
        problem(file.path,
                file.path + ": dag_id '" + dag.dag_id + "' is already defined in " + it->second);
        continue;
      }
      seen[dag.dag_id] = file.path;
      dag.fileloc = file.path;
      dag.bundle_name = options_.bundle_name;
      dag.bundle_version = stats.bundle_version;
      std::string serialized = dags::SerializeDag(dag);
      if (auto last = submitted_.find(dag.dag_id);
          last != submitted_.end() && last->second == serialized && stored.count(dag.dag_id)) {
        continue;
      }
      auto put = Call("PUT", "/dags/" + dag.dag_id, serialized);
      if (!put) {
        problem(file.path, file.path + ": submitting: " + put.error().message());
      } else if (put->status != 200 && put->status != 201) {
        problem(file.path,
                file.path + ": the api-server refused Dag '" + dag.dag_id + "': " + put->Detail());
      } else {
        submitted_[dag.dag_id] = std::move(serialized);
        ++stats.submitted;
      }
    }
  }

  // Dags whose file is gone. A Dag whose file is still there but failed to parse stays.
  for (const auto& [dag_id, fileloc] : stored) {
    if (seen.count(dag_id) || present_files.count(fileloc)) continue;
    submitted_.erase(dag_id);
    auto deleted = Call("DELETE", "/dags/" + dag_id);
    if (!deleted) {
      stats.errors.push_back("deleting Dag '" + dag_id + "': " + deleted.error().message());
    } else if (deleted->status != 204 && deleted->status != 404) {
      stats.errors.push_back("deleting Dag '" + dag_id + "': " + deleted->Detail());
    } else {
      ++stats.deleted;
    }
  }
  ReportImportErrors(import_errors, stats);
  return stats;
}

void DagProcessor::ReportImportErrors(const std::map<std::string, std::string>& errors,
                                      ProcessStats& stats) {
  if (reported_errors_ && *reported_errors_ == errors) return;
  json::array list;
  for (const auto& [file, message] : errors) {
    list.push_back(json::object{{"filename", file}, {"stack_trace", message}});
  }
  auto put = Call("PUT", "/import-errors",
                  json::serialize(json::object{{"bundle", options_.bundle_name},
                                               {"import_errors", std::move(list)}}));
  if (!put) {
    stats.errors.push_back("reporting import errors: " + put.error().message());
  } else if (put->status != 200 && put->status != 204) {
    stats.errors.push_back("reporting import errors: " + put->Detail());
  } else {
    reported_errors_ = errors;
  }
}

}  // namespace airlock::dag_processor
