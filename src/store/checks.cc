#include "store/checks.h"

#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include "store/store.h"

namespace airlock::store {
namespace {

// The length of the UTF-8 sequence that starts at text[i], or 0 if it is not well formed
// (RFC 3629 §4).
size_t SequenceLength(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 == 0) return 0;
  if (b0 < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

// True if none of the 8 bytes at `p` is NUL or has its high bit set (plain ASCII).
bool EightPlainAscii(const char* p) {
  constexpr uint64_t kLow = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  const bool has_zero = ((w - kLow) & ~w & kHigh) != 0;
  return (w & kHigh) == 0 && !has_zero;
}

// The offset of the first byte of `value` that CheckText refuses, or npos.
size_t FirstBadByte(std::string_view value) {
  for (size_t i = 0; i < value.size();) {
    // Plain ASCII runs are the common case: skip them eight bytes at a time, then a byte
    // at a time, without decoding.
    if (i + 8 <= value.size() && EightPlainAscii(value.data() + i)) {
      i += 8;
      continue;
    }
    const auto c = static_cast<unsigned char>(value[i]);
    if (c != 0 && c < 0x80) {
      ++i;
      continue;
    }
    const size_t n = SequenceLength(value, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

}  // namespace

Result<void> CheckText(std::string_view what, std::string_view value) {
  const size_t bad = FirstBadByte(value);
  if (bad == std::string_view::npos) return {};
  return InvalidArgument(std::string(what) + " is not UTF-8 text without NUL bytes (byte " +
                         std::to_string(bad) + ")");
}

bool IsStorableText(std::string_view value) {
  return FirstBadByte(value) == std::string_view::npos;
}

std::string StorableText(std::string_view value) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size();) {
    const size_t n = SequenceLength(value, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(value.substr(i, n));
      i += n;
    }
  }
  return out;
}

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

}  // namespace airlock::store
