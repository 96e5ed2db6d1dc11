// Rendering findings for a terminal (table) or for other programs (json, jsonl).
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/finding.h"

namespace vigil::app {

enum class OutputFormat { kTable, kJson, kJsonl };

// Parses "table" | "json" | "jsonl".
bool ParseOutputFormat(std::string_view text, OutputFormat* out);

// Replaces control characters (C0, DEL, C1) with '?', so that attacker-controlled text
// (usernames, URIs, exec commands) can never drive the investigator's terminal.
std::string SanitizeForTerminal(std::string_view text);

void PrintFindings(const std::vector<Finding>& findings, OutputFormat format, std::ostream& os);

}  // namespace vigil::app
