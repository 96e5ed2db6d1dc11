// Loading rule files of any supported format, in the order given (like Falco's repeated -r):
// native Vigil YAML, Falco rules files (k8s_audit source) and Sigma rules (kubernetes/audit).
// Also the built-in pack, compiled into the binary from detect/rules/*.yaml.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/embedded_file.h"
#include "vigil/core/status.h"
#include "vigil/detect/detector.h"
#include "vigil/detect/rule.h"

namespace vigil::detect {

enum class RuleFormat : uint8_t { kNative, kFalco, kSigma };
std::string_view RuleFormatName(RuleFormat f);

// Decides a file's format from its content: a mapping with `detection` is Sigma; a sequence with
// Falco-only keys (priority, desc, source, required_engine_version, required_plugin_versions,
// append/override on lists) is Falco; any other sequence is native. InvalidArgument with
// file:line:column for YAML that is neither.
Result<RuleFormat> DetectRuleFormat(std::string_view yaml, std::string_view name);

// Loads files and directories (their *.yaml/*.yml files in name order). Files of one format are
// loaded together, so Falco macros and lists (and native ones) are shared across files, as
// Falco does; the resulting rules keep the order of their files. A bad file fails the whole
// load with its file:line:column and reason.
Result<RuleSet> LoadRuleFiles(const std::vector<std::string>& paths);

// The built-in rule pack (detect/rules/*.yaml, embedded at build time).
std::span<const EmbeddedFile> BuiltinPackFiles();
// kRulesOnly skips the rules' inline tests (three quarters of the pack's text): what a replay
// or a server needs, loaded in about half the time. kWithTests is for `vigil rules` and tests.
enum class PackContent : uint8_t { kWithTests, kRulesOnly };
Result<RuleSet> LoadBuiltinPack(PackContent content = PackContent::kWithTests);

// The YAML `text` with the lines of every block-style `tests:` mapping entry blanked (line
// numbers, and so positions in messages, are kept). Meant for the built-in pack, whose layout
// is known: `tests:` alone on its line, its items indented at least as deep as the key.
std::string BlankInlineTests(std::string_view text);

}  // namespace vigil::detect
