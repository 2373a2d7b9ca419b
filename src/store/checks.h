#pragma once
// Checks that every backend applies to what it is asked to store, so that the three of
// them accept and refuse exactly the same values (store.h: "Text").

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "store/store.h"

namespace airlock::store {

// OK for UTF-8 text without NUL bytes (no overlong forms, surrogates or code points past
// U+10FFFF); InvalidArgument naming `what` otherwise. The message never quotes the value.
Result<void> CheckText(std::string_view what, std::string_view value);

// Whether CheckText takes `value`, without building an error.
bool IsStorableText(std::string_view value);

// `value` with each byte that CheckText refuses (a NUL, or a byte that does not begin a
// well-formed UTF-8 sequence) replaced by U+FFFD: for fields that record input as it came,
// such as the audit log's path, so that hostile input cannot make them unstorable.
std::string StorableText(std::string_view value);

// CheckText on each value, as "a text value".
Result<void> CheckTexts(std::initializer_list<std::string_view> values);

// ReplaceImportErrors' argument checks: texts, every entry of `bundle_name`, no file twice.
Result<void> CheckImportErrors(std::string_view bundle_name,
                               const std::vector<ImportError>& errors);

// True for a canonical lowercase UUID: 8-4-4-4-12 hexadecimal digits.
bool IsCanonicalUuid(std::string_view id);

// A triggerer's name for leases: 1 to 200 characters of valid text. InvalidArgument.
Result<void> CheckTriggererId(std::string_view triggerer_id);

// "trigger 42", for messages.
std::string TriggerName(int64_t trigger_id);

// The ResourceExhausted of StartDagRun: `dag_id` already has `running` runs running.
std::unexpected<Error> TooManyRunning(std::string_view dag_id, int64_t running);

// The InvalidArgument of QueueTaskInstances for a parallelism below 0.
std::unexpected<Error> NegativeParallelism(int parallelism);

// The FailedPrecondition for a database whose schema is newer than kSchemaVersion.
std::unexpected<Error> NewerSchemaError(int database_version);

}  // namespace airlock::store
