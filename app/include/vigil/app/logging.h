// Process-wide logging setup (spdlog to stderr), plain text or one JSON object per line.
#pragma once

#include <string>

#include "vigil/core/status.h"

namespace vigil::app {

// level: trace|debug|info|warn|error|off. json: one {"time","level","msg"} object per line.
Status SetupLogging(const std::string& level, bool json);

}  // namespace vigil::app
