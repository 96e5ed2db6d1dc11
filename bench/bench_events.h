// The events the micro-benchmarks run on: a real log when $VIGIL_BENCH_EVENTS names one.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace vigil::bench {

// The first 20,000 non-empty lines of $VIGIL_BENCH_EVENTS (a vigil-gen log, say) when it is set
// and readable, else `fallback`.
inline std::vector<std::string> BenchEventsOr(std::vector<std::string> fallback) {
  std::vector<std::string> out;
  if (const char* path = std::getenv("VIGIL_BENCH_EVENTS")) {
    std::ifstream in(path);
    std::string line;
    while (out.size() < 20000 && std::getline(in, line)) {
      if (!line.empty()) out.push_back(line);
    }
  }
  return out.empty() ? std::move(fallback) : out;
}

}  // namespace vigil::bench
