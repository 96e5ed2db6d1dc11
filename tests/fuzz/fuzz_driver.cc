// Seeds and deterministic mutations for the fuzz regression tests (fuzz_driver.h).
#include "fuzz_driver.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

namespace vigil::fuzz {

int Feed(const std::string& s) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

void Mutate(const std::vector<std::string>& seeds, int n, uint32_t seed, std::string_view specials,
            std::string_view runs, size_t keep_prefix) {
  std::mt19937 rng(seed);
  size_t fed = 0;
  for (int i = 0; i < n; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    // (No draw without a prefix: the mutations of a seed stay what they were before it existed.)
    const size_t from = (keep_prefix > 0 && rng() % 2 == 0) ? std::min(keep_prefix, s.size()) : 0;
    const size_t span = s.size() - from;
    switch (rng() % 5) {
      case 0:  // truncate
        s.resize(span == 0 ? s.size() : from + rng() % span);
        break;
      case 1:  // flip bits
        for (int k = 0; k < 4 && span > 0; ++k)
          s[from + rng() % span] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 2:  // overwrite with structural or odd bytes
        for (int k = 0; k < 6 && span > 0; ++k) {
          s[from + rng() % span] = specials[rng() % specials.size()];
        }
        break;
      case 3: {  // splice two seeds
        const std::string& t = seeds[rng() % seeds.size()];
        if (span > 0 && !t.empty())
          s = s.substr(0, from + rng() % span) + t.substr(rng() % t.size());
        break;
      }
      default:  // deep or long runs
        s.insert(span == 0 ? s.size() : from + rng() % span,
                 std::string(1 + rng() % 300, runs[rng() % runs.size()]));
        break;
    }
    EXPECT_EQ(Feed(s), 0);
    ++fed;
  }
  EXPECT_EQ(fed, static_cast<size_t>(n));
}

void WriteSeeds(const std::vector<std::string>& seeds, std::string_view prefix) {
  const char* dir = std::getenv("VIGIL_FUZZ_SEEDS");
  if (dir == nullptr || *dir == '\0') return;
  std::filesystem::create_directories(dir);
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream(
        std::filesystem::path(dir) / ("seed-" + std::string(prefix) + "-" + std::to_string(i)),
        std::ios::binary)
        << seeds[i];
  }
}

}  // namespace vigil::fuzz
