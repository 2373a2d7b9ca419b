#include "api/roles.h"

#include <strings.h>

namespace airlock::api {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "VIEWER";
    case Role::kUser:
      return "USER";
    case Role::kOp:
      return "OP";
    case Role::kAdmin:
      return "ADMIN";
  }
  return "VIEWER";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kViewer, Role::kUser, Role::kOp, Role::kAdmin}) {
    std::string_view candidate = RoleName(role);
    if (name.size() == candidate.size() &&
        strncasecmp(name.data(), candidate.data(), name.size()) == 0) {
      return role;
    }
  }
  return std::nullopt;
}

}  // namespace airlock::api
