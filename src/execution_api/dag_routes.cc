#include "execution_api/dag_routes.h"

#include <algorithm>
#include <boost/json.hpp>

#include "dags/dag.h"
#include "execution_api/responses.h"
#include "http/json_checks.h"

namespace airlock::execution_api {

namespace json = boost::json;
using http::Response;

std::vector<std::string> TokenBundles(const jwt::Claims& claims) {
  boost::system::error_code ec;
  json::value payload = json::parse(claims.payload_json, ec);
  if (ec || !payload.is_object()) return {};
  const json::value* bundles = payload.as_object().if_contains("bundles");
  if (bundles == nullptr || !bundles->is_array()) return {};
  std::vector<std::string> out;
  for (const json::value& b : bundles->as_array()) {
    if (!b.is_string()) return {};
    out.emplace_back(b.as_string());
  }
  return out;
}

namespace {

bool Covers(const Caller& caller, std::string_view bundle) {
  auto bundles = TokenBundles(*caller.claims);
  return std::find(bundles.begin(), bundles.end(), bundle) != bundles.end();
}

Response NotCovered() { return Response::Detail(403, "Token does not cover this Dag's bundle"); }

}  // namespace

Response PutDag(store::Store& store, const Clock& clock, const Caller& caller,
                const http::Request& request, std::string_view dag_id) {
  auto dag = dags::ParseSerializedDag(request.body);
  if (!dag) return Response::Detail(422, "Invalid Dag: " + dag.error().message());
  if (dag->dag_id != dag_id) {
    return Response::Detail(422, "Invalid Dag: dag_id in the body differs from the path");
  }
  if (dag->bundle_name.empty())
    return Response::Detail(422, "Invalid Dag: bundle.name is required");
  if (!Covers(caller, dag->bundle_name)) return NotCovered();
  bool is_paused = false;
  bool created = true;
  auto existing = store.GetDag(dag_id);
  if (existing) {
    if (existing->bundle_name != dag->bundle_name) {
      return Response::Detail(409, "Dag '" + std::string(dag_id) + "' belongs to another bundle");
    }
    is_paused = existing->is_paused;
    created = false;
  } else if (existing.error().code() != ErrorCode::kNotFound) {
    return StoreFailure(existing.error());
  }
  auto set = store.SetDag(store::Dag{.dag_id = dag->dag_id,
                                     .bundle_name = dag->bundle_name,
                                     .relative_fileloc = dag->fileloc,
                                     .is_paused = is_paused,
                                     .serialized_json = dags::SerializeDag(*dag),
                                     .updated_at = clock.NowSeconds()});
  if (!set) return StoreFailure(set.error());
  return Response::Json(created ? 201 : 200, json::serialize(json::object{{"dag_id", dag->dag_id},
                                                                          {"created", created}}));
}

Response DeleteDag(store::Store& store, const Caller& caller, std::string_view dag_id) {
  auto existing = store.GetDag(dag_id);
  if (!existing) {
    if (existing.error().code() == ErrorCode::kNotFound) {
      return Response::Detail(404, "Dag '" + std::string(dag_id) + "' not found");
    }
    return StoreFailure(existing.error());
  }
  if (!Covers(caller, existing->bundle_name)) return NotCovered();
  auto deleted = store.DeleteDag(dag_id);
  if (!deleted && deleted.error().code() != ErrorCode::kNotFound) {
    return StoreFailure(deleted.error());
  }
  return Response::NoContent();
}

Response ListBundleDags(store::Store& store, const Caller& caller) {
  auto all = store.ListDags();
  if (!all) return StoreFailure(all.error());
  auto bundles = TokenBundles(*caller.claims);
  json::array out;
  for (const store::Dag& dag : *all) {
    if (std::find(bundles.begin(), bundles.end(), dag.bundle_name) == bundles.end()) continue;
    out.push_back(json::object{
        {"dag_id", dag.dag_id}, {"bundle", dag.bundle_name}, {"fileloc", dag.relative_fileloc}});
  }
  return Response::Json(200, json::serialize(json::object{{"dags", std::move(out)}}));
}

Response PutImportErrors(store::Store& store, const Clock& clock, const Caller& caller,
                         const http::Request& request) {
  auto body = http::ParseRequestJson(request.body, "Request body");
  if (!body) return Response::Detail(422, body.error());
  const json::object* object = body->is_object() ? &body->as_object() : nullptr;
  const json::value* bundle = object ? object->if_contains("bundle") : nullptr;
  const json::value* list = object ? object->if_contains("import_errors") : nullptr;
  if (!bundle || !bundle->is_string() || bundle->as_string().empty() || !list ||
      !list->is_array()) {
    return Response::Detail(422,
                            "Invalid import errors: expected {\"bundle\": string, "
                            "\"import_errors\": [{\"filename\", \"stack_trace\"}]}");
  }
  const std::string bundle_name(bundle->as_string());
  if (!Covers(caller, bundle_name)) return NotCovered();
  std::vector<store::ImportError> errors;
  for (const json::value& item : list->as_array()) {
    const json::object* entry = item.is_object() ? &item.as_object() : nullptr;
    const json::value* filename = entry ? entry->if_contains("filename") : nullptr;
    const json::value* trace = entry ? entry->if_contains("stack_trace") : nullptr;
    if (!filename || !filename->is_string() || filename->as_string().empty() || !trace ||
        !trace->is_string()) {
      return Response::Detail(422,
                              "Invalid import errors: each needs a filename and a stack_trace");
    }
    errors.push_back({.bundle_name = bundle_name,
                      .filename = std::string(filename->as_string()),
                      .stack_trace = std::string(trace->as_string())});
  }
  auto replaced = store.ReplaceImportErrors(bundle_name, errors, clock.NowSeconds());
  if (!replaced) {
    if (replaced.error().code() == ErrorCode::kInvalidArgument) {
      return Response::Detail(422, "Invalid import errors: " + replaced.error().message());
    }
    return StoreFailure(replaced.error());
  }
  return Response::NoContent();
}

}  // namespace airlock::execution_api
