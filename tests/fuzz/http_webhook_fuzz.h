// What the HTTP webhook fuzz target (http_webhook_fuzz.cc) is configured with, shared with its
// seeds (http_webhook_fuzz_regression_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace vigil::fuzz {

inline constexpr const char* kFuzzProdToken = "fuzz-token-prod-eu";  // cluster "prod-eu"
inline constexpr const char* kFuzzDevToken = "fuzz-token-dev";       // cluster "dev"
inline constexpr size_t kFuzzMaxHeaderBytes = 2 << 10;
inline constexpr size_t kFuzzMaxBodyBytes = 16 << 10;      // the webhook route's body limit
inline constexpr size_t kFuzzMaxInflatedBytes = 64 << 10;  // after gzip
inline constexpr uint64_t kFuzzBacklogBytes = 32 << 10;    // the journal's backlog limit

// Control byte bits (byte 0 of an input; byte 1 is where the rest is cut in two reads).
inline constexpr uint8_t kAuthAsSent = 0, kAuthProd = 1, kAuthDev = 2, kAuthUnknown = 3;
inline constexpr uint8_t kGzipBody = 4, kBacklogFull = 8, kJournalFails = 16, kGzipCut = 32;

}  // namespace vigil::fuzz
