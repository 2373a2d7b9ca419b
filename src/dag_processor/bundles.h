#pragma once
// Dag bundles the dag-processor reads: local folders, each with a name that the processor's
// token must cover ("bundles" claim) and that every Dag it holds is stored under.
// `[dag_processor] bundles` lists them as JSON, in the spirit of Airflow's
// dag_bundle_config_list:
//   [{"name": "team-a", "path": "/srv/dags/team-a"}, {"name": "team-b", "path": "/srv/b"}]
// Unset (or empty), it is one bundle: [dag_processor] bundle_name at [core] dags_folder.
// Pure functions: safe from any thread.

#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace airlock::dag_processor {

struct BundleConfig {
  std::string name;
  std::string path;  // absolute
};

// The bundles `text` lists, in its order, or {fallback} when `text` is empty or only spaces.
// InvalidArgument, naming the problem, for anything but a non-empty JSON list of objects with
// exactly "name" (1–250 characters of [A-Za-z0-9_.-]) and "path" (absolute), and for a name
// or a path given twice.
Result<std::vector<BundleConfig>> ParseBundles(std::string_view text, const BundleConfig& fallback);

// The names, as the JSON list a dag_processor token's "bundles" claim holds.
std::string BundlesClaim(const std::vector<BundleConfig>& bundles);

}  // namespace airlock::dag_processor
