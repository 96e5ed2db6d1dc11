// A text file compiled into the binary (cmake/EmbedFiles.cmake), e.g. the built-in rule pack,
// so `vigil` runs on its defaults with nothing installed beside it.
#pragma once

#include <span>
#include <string_view>

namespace vigil {

struct EmbeddedFile {
  std::string_view name;  // file name, e.g. "00_common.yaml"
  std::string_view text;
};

}  // namespace vigil
