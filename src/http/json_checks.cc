#include "http/json_checks.h"

#include <boost/json/value.hpp>
#include <cmath>

namespace airlock::http {

bool HoldsNonFiniteNumber(const boost::json::value& value) {
  // Recursion is bounded by the parser's depth limit (32 by default).
  switch (value.kind()) {
    case boost::json::kind::double_:
      return !std::isfinite(value.get_double());
    case boost::json::kind::array:
      for (const boost::json::value& v : value.get_array()) {
        if (HoldsNonFiniteNumber(v)) return true;
      }
      return false;
    case boost::json::kind::object:
      for (const auto& field : value.get_object()) {
        if (HoldsNonFiniteNumber(field.value())) return true;
      }
      return false;
    default:
      return false;
  }
}

}  // namespace airlock::http
