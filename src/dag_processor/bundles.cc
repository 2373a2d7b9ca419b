#include "dag_processor/bundles.h"

#include <boost/json.hpp>
#include <set>

#include "dags/dag.h"
#include "json/strict_json.h"

namespace airlock::dag_processor {

namespace json = boost::json;

Result<std::vector<BundleConfig>> ParseBundles(std::string_view text,
                                               const BundleConfig& fallback) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return {{fallback}};
  const std::string problem = "[dag_processor] bundles: ";
  auto parsed = ParseStrictJson(text, 4);
  if (!parsed) return InvalidArgument(problem + "not valid JSON: " + parsed.error().message());
  if (!parsed->is_array() || parsed->as_array().empty()) {
    return InvalidArgument(problem + "must be a non-empty JSON list of {\"name\", \"path\"}");
  }
  std::vector<BundleConfig> bundles;
  std::set<std::string> names, paths;
  for (const json::value& item : parsed->as_array()) {
    const json::object* object = item.is_object() ? &item.as_object() : nullptr;
    const json::value* name = object ? object->if_contains("name") : nullptr;
    const json::value* path = object ? object->if_contains("path") : nullptr;
    if (!name || !name->is_string() || !path || !path->is_string() || object->size() != 2) {
      return InvalidArgument(problem + "each bundle is {\"name\": string, \"path\": string}");
    }
    BundleConfig bundle{.name = std::string(name->as_string()),
                        .path = std::string(path->as_string())};
    if (!dags::IsValidId(bundle.name)) {
      return InvalidArgument(problem + "a bundle name must be 1-250 characters of [A-Za-z0-9_.-]");
    }
    if (!bundle.path.starts_with("/")) {
      return InvalidArgument(problem + "bundle '" + bundle.name + "': the path must be absolute");
    }
    if (!names.insert(bundle.name).second) {
      return InvalidArgument(problem + "bundle '" + bundle.name + "' is listed twice");
    }
    if (!paths.insert(bundle.path).second) {
      return InvalidArgument(problem + "bundle '" + bundle.name + "': its path is another's too");
    }
    bundles.push_back(std::move(bundle));
  }
  return bundles;
}

std::string BundlesClaim(const std::vector<BundleConfig>& bundles) {
  json::array names;
  for (const BundleConfig& bundle : bundles) names.emplace_back(bundle.name);
  return json::serialize(names);
}

}  // namespace airlock::dag_processor
