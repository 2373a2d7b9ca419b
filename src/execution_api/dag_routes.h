#pragma once
// The dag-processor's routes (SPEC §6): a processor holds no database credentials, so it
// submits the Dags it parsed here, with a dag_processor token whose "bundles" claim lists
// the bundles it may write. Each handler is a pure function of the request and the store.
//   PUT    /dags/{dag_id}   body: the serialized Dag (dags/dag.h) → 200 {"dag_id","created"}
//   DELETE /dags/{dag_id}   → 204
//   GET    /dags            → 200 {"dags":[{"dag_id","bundle","fileloc"}]} of its bundles
//   PUT    /import-errors   body: {"bundle", "import_errors":[{"filename","stack_trace"}]}
//                           → 204; the bundle's whole current set (Store::ReplaceImportErrors)
// Rules: the submitted Dag is validated again here (a processor is not trusted to have
// checked it) and stored in canonical form; its bundle must be one the token covers (403);
// a Dag that already exists under another bundle is never taken over or deleted (409): a
// processor for one team's bundle cannot replace another team's Dag; the path's dag_id
// must equal the body's (422). A Dag's is_paused survives resubmission.

#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "execution_api/auth.h"
#include "http/message.h"
#include "store/store.h"

namespace airlock::execution_api {

// The "bundles" claim of a dag_processor token: its strings, empty when absent or not a
// list of strings.
std::vector<std::string> TokenBundles(const jwt::Claims& claims);

http::Response PutDag(store::Store& store, const Clock& clock, const Caller& caller,
                      const http::Request& request, std::string_view dag_id);
http::Response DeleteDag(store::Store& store, const Caller& caller, std::string_view dag_id);
http::Response ListBundleDags(store::Store& store, const Caller& caller);
// 422 for a body of another shape or with a file twice; 403 for a bundle not covered.
http::Response PutImportErrors(store::Store& store, const Clock& clock, const Caller& caller,
                               const http::Request& request);

}  // namespace airlock::execution_api
