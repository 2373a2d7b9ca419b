#pragma once
// Counts the allocations made on an HTTP server's I/O threads (threads named
// "http-io-<n>"), for tests that hold what a request allocates there to a bound. Linking
// io_allocations.cc into a test binary replaces the global operator new and
// aligned_alloc (which Asio calls for its operations) of that binary.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "testing/raw_client.h"

namespace airlock::test {

// Allocations on I/O threads since the process started.
long IoThreadAllocations();

struct IoAllocationCount {
  int warm_up_answered = 0;  // answers of the warm-up rounds with the expected status
  int answered = 0;          // the same, of the counted rounds
  long allocations = 0;      // on the I/O threads during the counted rounds
};

// Sends requests[i] on clients[i], all of them, then reads every answer: one round, which
// a server that batches its answers sees arrive together. `warm_up` rounds, then
// `rounds` counted ones. An answer counts when it begins with `status_line`.
inline IoAllocationCount CountIoAllocations(const std::vector<std::unique_ptr<RawClient>>& clients,
                                            const std::vector<std::string>& requests, int warm_up,
                                            int rounds, std::string_view status_line) {
  auto round = [&] {
    for (size_t i = 0; i < clients.size(); ++i) clients[i]->Send(requests[i]);
    int answered = 0;
    for (const auto& client : clients) {
      if (client->ReadResponse().starts_with(status_line)) ++answered;
    }
    return answered;
  };
  IoAllocationCount count;
  for (int i = 0; i < warm_up; ++i) count.warm_up_answered += round();
  const long before = IoThreadAllocations();
  for (int i = 0; i < rounds; ++i) count.answered += round();
  count.allocations = IoThreadAllocations() - before;
  return count;
}

}  // namespace airlock::test
