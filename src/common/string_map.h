#pragma once
// StringMap: an unordered_map keyed by std::string that is looked up with a string_view
// without building a std::string (C++20 heterogeneous lookup).

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace airlock {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <class Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

}  // namespace airlock
