#pragma once
// Clock is the seam through which airlock reads time, so that expiry, refresh and
// rate-limit rules are tested with an injected clock instead of sleeps.
// SystemClock is thread-safe; FakeClock is thread-safe too (an atomic), for tests.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stop_token>

namespace airlock {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch (wall clock; JWT NumericDate).
  virtual int64_t NowSeconds() const = 0;
  // Microseconds since the Unix epoch, for records that order events (the audit log).
  // Clocks without sub-second resolution (FakeClock) return NowSeconds() × 10^6.
  virtual int64_t NowMicros() const { return NowSeconds() * 1000000; }
  // A monotonic reading for intervals and rate limits.
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowSeconds() const override;
  int64_t NowMicros() const override;
  std::chrono::steady_clock::time_point Monotonic() const override;
  // A process-wide instance; it has no state, so sharing it is safe.
  static const Clock& Instance();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_seconds) : now_(now_seconds) {}
  int64_t NowSeconds() const override { return now_.load(); }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point(std::chrono::seconds(now_.load()));
  }
  void Set(int64_t now_seconds) { now_.store(now_seconds); }
  void Advance(int64_t seconds) { now_.fetch_add(seconds); }

 private:
  std::atomic<int64_t> now_;
};

// Sleeps for `duration` and returns true, or returns false as soon as `stop` is requested
// (at once if it already is): the wait of a thread that works every `duration` until its
// owner stops it.
bool SleepUnlessStopped(std::stop_token stop, std::chrono::milliseconds duration);

}  // namespace airlock
