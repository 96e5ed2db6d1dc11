// The driver of the fuzz regression tests: runs the fuzz target linked into the test binary
// (its LLVMFuzzerTestOneInput) over seeds and deterministic mutations of them, with any
// compiler, so that `make test` (ASan/UBSan) replays what a libFuzzer run would start from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace vigil::fuzz {

// Runs the target once on `s`; returns what it returns (0).
int Feed(const std::string& s);

// `n` deterministic mutations of `seeds` (truncations, bit flips, bytes of `specials` written
// over, splices of two seeds, long runs of `runs`), each fed to the target; the mutated inputs
// depend only on `seed`. Fails the test when the target returns non-zero (a crash ends it).
// `keep_prefix` bytes at the start of each input (a control header) are not mutated half of
// the time, so that mutations reach the body under every control setting.
void Mutate(const std::vector<std::string>& seeds, int n, uint32_t seed, std::string_view specials,
            std::string_view runs, size_t keep_prefix = 0);

// When VIGIL_FUZZ_SEEDS names a directory, writes `seeds` there (seed-<prefix>-<i>) as a
// starting corpus for the libFuzzer binary.
void WriteSeeds(const std::vector<std::string>& seeds, std::string_view prefix);

}  // namespace vigil::fuzz
