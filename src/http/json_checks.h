#pragma once
// Checks on parsed JSON that Boost.JSON's parser does not make.

namespace boost::json {
class value;
}

namespace airlock::http {

// Whether `value` holds, anywhere, a number too large for a double (1e309, say). Boost.JSON
// 1.81 reads one as an infinity and writes it back as `Infinity`, which no JSON parser
// reads: a value stored with one could never be read again.
bool HoldsNonFiniteNumber(const boost::json::value& value);

// What a 422 says of a body (or field) for which HoldsNonFiniteNumber holds, after its name.
inline constexpr char kHoldsANumberOutOfRange[] = " holds a number out of range (beyond ±1.8e308)";

}  // namespace airlock::http
