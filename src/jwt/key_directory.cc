#include "jwt/key_directory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <cerrno>
#include <cstring>

#include "common/files.h"
#include "json/strict_json.h"

namespace airlock::jwt {

namespace json = boost::json;

namespace {

constexpr mode_t kKeyFileMode = 0600;

std::string KeyFileName(const Key& key) { return key.kid() + ".pem"; }

Result<KeyState> ParseState(std::string_view s) {
  if (s == "next") return KeyState::kNext;
  if (s == "active") return KeyState::kActive;
  if (s == "retired") return KeyState::kRetired;
  return InvalidArgument("unknown key state in keys.json");
}

}  // namespace

Result<KeySet> KeyDirectory::Load() const {
  auto text = ReadFile(ManifestPath());
  if (!text) return std::unexpected(text.error());
  auto doc = ParseStrictJsonObject(*text);
  if (!doc) return std::unexpected(doc.error().WithContext(ManifestPath()));
  auto keys = doc->find("keys");
  if (keys == doc->end() || !keys->value().is_array()) {
    return InvalidArgument(ManifestPath() + ": no \"keys\" array");
  }
  std::vector<KeyEntry> entries;
  for (const auto& v : keys->value().as_array()) {
    const json::object* entry = v.if_object();
    auto member = [entry](std::string_view name) -> const json::string* {
      if (entry == nullptr) return nullptr;
      auto it = entry->find(name);
      return it == entry->end() ? nullptr : it->value().if_string();
    };
    const json::string* kid = member("kid");
    const json::string* file = member("file");
    const json::string* state = member("state");
    if (kid == nullptr || file == nullptr || state == nullptr) {
      return InvalidArgument(ManifestPath() + ": every key needs string kid, file and state");
    }
    // Key files live in the directory itself; a manifest cannot point elsewhere.
    if (file->find('/') != json::string::npos || file->starts_with(".")) {
      return InvalidArgument(ManifestPath() + ": key file names must not contain '/'");
    }
    auto parsed_state = ParseState(std::string_view(*state));
    if (!parsed_state) return std::unexpected(parsed_state.error().WithContext(ManifestPath()));
    auto key = LoadKeyFile(path_ + "/" + std::string(*file), std::nullopt, std::string(*kid));
    if (!key) return std::unexpected(key.error());
    entries.push_back({std::move(*key), *parsed_state});
  }
  auto set = KeySet::Create(std::move(entries));
  if (!set) return std::unexpected(set.error().WithContext(ManifestPath()));
  return set;
}

Result<void> KeyDirectory::WriteManifest(const KeySet& set) const {
  json::array keys;
  for (const auto& e : set.entries()) {
    keys.push_back(json::object{
        {"kid", e.key->kid()}, {"file", KeyFileName(*e.key)}, {"state", KeyStateName(e.state)}});
  }
  std::string text = json::serialize(json::object{{"keys", std::move(keys)}}) + "\n";
  const std::string tmp = ManifestPath() + ".tmp";
  ::unlink(tmp.c_str());
  if (auto ok = WriteNewFile(tmp, text, kKeyFileMode); !ok) return ok;
  if (::rename(tmp.c_str(), ManifestPath().c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Unavailable("cannot replace " + ManifestPath() + ": " + std::strerror(err));
  }
  return {};
}

Result<KeySet> KeyDirectory::Rotate(const RotateOptions& options) const {
  if (options.keep_retired < 0) return InvalidArgument("keep_retired must be >= 0");
  if (::mkdir(path_.c_str(), 0700) != 0 && errno != EEXIST) {
    return Unavailable("cannot create " + path_ + ": " + std::strerror(errno));
  }
  auto new_key = [&]() -> Result<KeyPtr> {
    auto key = Key::Generate(options.type, options.rsa_bits);
    if (!key) return key;
    auto pem = (*key)->PrivatePem();
    if (!pem) return std::unexpected(pem.error());
    if (auto ok = WriteNewFile(path_ + "/" + KeyFileName(**key), *pem, kKeyFileMode); !ok) {
      return std::unexpected(ok.error());
    }
    return key;
  };

  auto current = Load();
  std::vector<KeyEntry> entries;
  std::vector<std::string> dropped_files;
  if (!current && current.error().code() != ErrorCode::kNotFound) {
    return std::unexpected(current.error());
  }
  if (!current || current->empty()) {
    auto active = new_key();
    if (!active) return std::unexpected(active.error());
    entries.push_back({*active, KeyState::kActive});
  } else {
    auto rotated = current->Rotated();
    if (!rotated) return std::unexpected(rotated.error());
    // Newest retired first: the key that was active a moment ago comes first in the
    // rotated set's order only by chance, so order explicitly.
    std::vector<KeyEntry> retired;
    for (const auto& e : rotated->entries()) {
      if (e.state != KeyState::kRetired) entries.push_back(e);
    }
    for (const auto& e : current->entries()) {
      if (e.state == KeyState::kActive) retired.push_back({e.key, KeyState::kRetired});
    }
    for (const auto& e : current->entries()) {
      if (e.state == KeyState::kRetired) retired.push_back(e);
    }
    for (size_t i = 0; i < retired.size(); ++i) {
      if (static_cast<int>(i) < options.keep_retired) {
        entries.push_back(retired[i]);
      } else {
        dropped_files.push_back(path_ + "/" + KeyFileName(*retired[i].key));
      }
    }
  }
  auto next = new_key();
  if (!next) return std::unexpected(next.error());
  entries.push_back({*next, KeyState::kNext});
  auto set = KeySet::Create(std::move(entries));
  if (!set) return std::unexpected(set.error());
  if (auto ok = WriteManifest(*set); !ok) return std::unexpected(ok.error());
  // Only after the manifest no longer names them.
  for (const auto& file : dropped_files) ::unlink(file.c_str());
  return set;
}

}  // namespace airlock::jwt
