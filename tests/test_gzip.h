// Gzip for tests and fuzz seeds: the bodies an apiserver sends with Content-Encoding: gzip.
#pragma once

#include <zlib.h>

#include <cstdlib>
#include <string>

namespace vigil::testing {

// `in` as one gzip member (zlib level `level`).
inline std::string Gzip(const std::string& in, int level = 6) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    std::abort();
  }
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace vigil::testing
