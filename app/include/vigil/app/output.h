// Rendering findings for a terminal (table) or for other programs (json, jsonl, and falco:
// Falco's JSON alert, one per line, which falcosidekick and Falco's other consumers read).
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/finding.h"

namespace vigil::app {

enum class OutputFormat { kTable, kJson, kJsonl, kFalco };

// Parses "table" | "json" | "jsonl" | "falco".
bool ParseOutputFormat(std::string_view text, OutputFormat* out);

// Replaces control characters (C0, DEL, C1) with '?', so that attacker-controlled text
// (usernames, URIs, exec commands) can never drive the investigator's terminal.
std::string SanitizeForTerminal(std::string_view text);

void PrintFindings(const std::vector<Finding>& findings, OutputFormat format, std::ostream& os);

// The Falco priority a severity is reported as: critical "Critical", high "Error", medium
// "Warning", low "Notice", info "Informational" (the inverse of the Falco loader's mapping;
// Emergency/Alert come back as Critical, Debug as Informational).
std::string_view FalcoPriorityName(Severity s);

// A finding as Falco's JSON alert (what Falco prints with json_output and POSTs to
// falcosidekick): time (the first event's, RFC 3339 with nanoseconds), rule, priority, output
// ("HH:MM:SS.nnnnnnnnn: Priority message", as Falco writes it), output_fields (evt.time in
// nanoseconds, the rule's output fields by their Falco names, then the finding's context as
// ka.* fields a rule did not name, and vigil.finding_id / vigil.rule_id / vigil.count),
// source "k8s_audit", tags (the rule's tags, then its ATT&CK ids) and hostname.
std::string FindingToFalcoJson(const Finding& f, std::string_view hostname);

// This machine's host name (gethostname), for the alerts' hostname.
std::string LocalHostname();

}  // namespace vigil::app
