#pragma once
// Randomness from OpenSSL's CSPRNG (RAND_bytes), the only source airlock uses for ids,
// token ids and generated secrets.

#include <cstddef>
#include <string>

#include "common/error.h"

namespace airlock {

// `n` bytes from the CSPRNG. Fails only if OpenSSL's generator cannot be seeded.
Result<std::string> RandomBytes(size_t n);

// A random (version 4, RFC 9562) UUID as 32 lowercase hex digits without dashes, as
// Airflow writes its token ids ("jti").
Result<std::string> Uuid4Hex();

// The same UUID in canonical 8-4-4-4-12 form.
Result<std::string> Uuid4();

}  // namespace airlock
