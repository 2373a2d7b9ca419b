#pragma once
// The simple auth manager's roles, ordered: each role may do everything the roles below it
// may. VIEWER reads; USER also triggers runs and pauses Dags; OP also manages variables and
// connections; ADMIN also reads the audit log and the users.

#include <optional>
#include <string_view>

namespace airlock::api {

enum class Role { kViewer = 0, kUser = 1, kOp = 2, kAdmin = 3 };

// "VIEWER", "USER", "OP", "ADMIN".
std::string_view RoleName(Role role);
// Accepts the names above in any case; nullopt for anything else.
std::optional<Role> ParseRole(std::string_view name);
// Whether `held` is at least `required`.
inline bool HasRole(Role held, Role required) {
  return static_cast<int>(held) >= static_cast<int>(required);
}

}  // namespace airlock::api
