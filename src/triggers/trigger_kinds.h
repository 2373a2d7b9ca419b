#pragma once
// The kinds of trigger a deferred task can wait on, and their arguments. The api-server
// checks and normalizes a task's `defer` request with NormalizeTriggerArgs before storing
// it; the triggerer reads the stored arguments back with ParseTriggerArgs. One definition
// for both, so what is accepted is exactly what can run.
//
//   datetime  {"moment": RFC 3339} or {"delay_seconds": N ≥ 0}; stored as {"moment"} (a
//             delay counts from the defer request). Fires at the moment; payload
//             {"moment": …}.
//   file      {"path": absolute path, "poll_interval": seconds > 0 (default 1)}. Fires
//             when the path exists (stat succeeds); payload {"path": …}.
//   http      {"url": http(s) URL, "status": 100–599 (default 200), "poll_interval":
//             seconds > 0 (default 5)}. Fires when a GET of the URL answers that status;
//             payload {"url": …, "status": …}.
//   exec      {"argv": [program, args…]}: a user trigger, run once as a hardened child
//             that exits 0 when its condition holds (its stdout, if a JSON object, is the
//             payload; else {"returncode": 0}). Any other end fails the task.
// Unknown fields are refused, so a typo never silently becomes a default.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/error.h"

namespace airlock::triggers {

struct DateTimeArgs {
  int64_t moment = 0;  // Unix seconds
};
struct FileArgs {
  std::string path;
  double poll_interval = 1.0;
};
struct HttpArgs {
  std::string url;
  int status = 200;
  double poll_interval = 5.0;
};
struct ExecArgs {
  std::vector<std::string> argv;
};
using TriggerArgs = std::variant<DateTimeArgs, FileArgs, HttpArgs, ExecArgs>;

// "datetime", "file", "http", "exec".
std::string_view TriggerKindName(const TriggerArgs& args);

// The arguments of a trigger of `kind`, given as a JSON object's text; `now` resolves a
// datetime's delay_seconds. InvalidArgument naming the kind and the field otherwise.
Result<TriggerArgs> ParseTriggerArgs(std::string_view kind, std::string_view args_json,
                                     int64_t now);

// The stored form of parsed arguments: a JSON object's text with every default filled in.
std::string SerializeTriggerArgs(const TriggerArgs& args);

// ParseTriggerArgs then SerializeTriggerArgs.
Result<std::string> NormalizeTriggerArgs(std::string_view kind, std::string_view args_json,
                                         int64_t now);

}  // namespace airlock::triggers
