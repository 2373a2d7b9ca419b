#pragma once
// Counts the allocations made on an HTTP server's I/O threads (threads named
// "http-io-<n>"), for tests that hold what a request allocates there to a bound. Linking
// io_allocations.cc into a test binary replaces the global operator new and
// aligned_alloc (which Asio calls for its operations) of that binary.

namespace airlock::test {

// Allocations on I/O threads since the process started.
long IoThreadAllocations();

}  // namespace airlock::test
