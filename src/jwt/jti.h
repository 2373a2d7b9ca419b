#pragma once
// Token ids ("jti"): random version 4 UUIDs (RFC 9562) as 32 lowercase hex digits without
// dashes, as Airflow writes them, drawn from OpenSSL's CSPRNG.
// Every thread keeps a small buffer of CSPRNG output and refills it with one RAND_bytes
// call per kJtiRandomBufferBytes, so that minting a token does not pay for a DRBG call
// (its lock and fork check) each time. A forked child discards the buffer it inherited
// (a pthread_atfork handler moves a fork generation on): without that, parent and child
// would mint the same ids from the same buffered bytes. (Should the handler fail to
// register, every id is drawn with its own RAND_bytes call.)
// Safe from any number of threads.

#include <cstddef>
#include <string>

#include "common/error.h"

namespace airlock::jwt {

inline constexpr size_t kJtiRandomBufferBytes = 1024;

// A fresh token id, or Internal if the CSPRNG is not available.
Result<std::string> NewJti();

}  // namespace airlock::jwt
