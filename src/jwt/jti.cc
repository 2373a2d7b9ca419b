#include "jwt/jti.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <cstdint>

namespace airlock::jwt {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr size_t kUuidBytes = 16;
static_assert(kJtiRandomBufferBytes % kUuidBytes == 0);

// Moved on in the child of every fork() (glibc runs pthread_atfork handlers for fork(),
// not for vfork() or posix_spawn(), whose children exec or exit without minting).
std::atomic<uint64_t> fork_generation{0};

void OnForkInChild() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

// True once the handler is registered (on first use); if that failed, nothing is buffered.
bool ForkHandlerRegistered() {
  static const bool registered = pthread_atfork(nullptr, nullptr, OnForkInChild) == 0;
  return registered;
}

// CSPRNG bytes not handed out yet. Used bytes are wiped so that the buffer never holds
// an id that was already issued.
struct RandomBuffer {
  std::array<unsigned char, kJtiRandomBufferBytes> bytes;
  size_t next = kJtiRandomBufferBytes;  // empty until the first fill
  uint64_t generation = 0;              // fork_generation when it was filled
};

}  // namespace

Result<std::string> NewJti() {
  thread_local RandomBuffer buffer;
  // The handler is registered before the first fill, so no buffer is ever filled without
  // the handler that invalidates it in a child.
  const size_t fill = ForkHandlerRegistered() ? buffer.bytes.size() : kUuidBytes;
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (buffer.next + kUuidBytes > fill || buffer.generation != generation) {
    if (RAND_bytes(buffer.bytes.data(), static_cast<int>(fill)) != 1) {
      OPENSSL_cleanse(buffer.bytes.data(), fill);
      buffer.next = buffer.bytes.size();
      return Internal("RAND_bytes failed: the CSPRNG is not available");
    }
    buffer.next = 0;
    buffer.generation = generation;
  }
  unsigned char* u = buffer.bytes.data() + buffer.next;
  buffer.next += kUuidBytes;
  u[6] = static_cast<unsigned char>((u[6] & 0x0f) | 0x40);  // version 4
  u[8] = static_cast<unsigned char>((u[8] & 0x3f) | 0x80);  // variant 10xx
  std::string out(2 * kUuidBytes, '\0');
  for (size_t i = 0; i < kUuidBytes; ++i) {
    out[2 * i] = kHex[u[i] >> 4];
    out[2 * i + 1] = kHex[u[i] & 0x0f];
  }
  OPENSSL_cleanse(u, kUuidBytes);
  return out;
}

}  // namespace airlock::jwt
