#include "store/checks.h"

#include <cstdint>
#include <set>
#include <string>

#include "common/utf8.h"
#include "store/store.h"

namespace airlock::store {

Result<void> CheckText(std::string_view what, std::string_view value) {
  const size_t bad = FirstInvalidUtf8(value, /*refuse_nul=*/true);
  if (bad == std::string_view::npos) return {};
  return InvalidArgument(std::string(what) + " is not UTF-8 text without NUL bytes (byte " +
                         std::to_string(bad) + ")");
}

bool IsStorableText(std::string_view value) {
  return FirstInvalidUtf8(value, /*refuse_nul=*/true) == std::string_view::npos;
}

std::string StorableText(std::string_view value) { return ValidUtf8(value, /*replace_nul=*/true); }

Result<void> CheckTexts(std::initializer_list<std::string_view> values) {
  for (std::string_view value : values) {
    if (auto ok = CheckText("a text value", value); !ok) return ok;
  }
  return {};
}

Result<void> CheckImportErrors(std::string_view bundle_name,
                               const std::vector<ImportError>& errors) {
  if (auto ok = CheckText("a bundle name", bundle_name); !ok) return ok;
  std::set<std::string_view> files;
  for (const ImportError& e : errors) {
    if (e.bundle_name != bundle_name) {
      return InvalidArgument("an import error of another bundle");
    }
    if (auto ok = CheckTexts({e.filename, e.stack_trace}); !ok) return ok;
    if (!files.insert(e.filename).second) {
      return InvalidArgument("a file is listed twice among the import errors");
    }
  }
  return {};
}

bool IsCanonicalUuid(std::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::unexpected<Error> NewerSchemaError(int database_version) {
  return FailedPrecondition(
      "the database's schema is at version " + std::to_string(database_version) +
      ", newer than this airlock binary knows (version " + std::to_string(kSchemaVersion) +
      "): upgrade airlock before using this database");
}

Result<void> CheckTriggererId(std::string_view triggerer_id) {
  if (triggerer_id.empty() || triggerer_id.size() > 200) {
    return InvalidArgument("a triggerer id must be 1 to 200 characters");
  }
  return CheckText("a triggerer id", triggerer_id);
}

std::string TriggerName(int64_t trigger_id) { return "trigger " + std::to_string(trigger_id); }

std::unexpected<Error> TooManyRunning(std::string_view dag_id, int64_t running) {
  return std::unexpected(Error(ErrorCode::kResourceExhausted,
                               "dag '" + std::string(dag_id) + "' already has " +
                                   std::to_string(running) + " running runs (max_active_runs)"));
}

std::unexpected<Error> NegativeParallelism(int parallelism) {
  return InvalidArgument("parallelism must be at least 0, not " + std::to_string(parallelism));
}

}  // namespace airlock::store
