// Dispatch of rule files to their front end, and the embedded built-in pack.
#include "vigil/detect/rule_files.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "vigil/detect/falco_loader.h"
#include "vigil/detect/native_loader.h"
#include "vigil/detect/rule_engine.h"
#include "vigil/detect/sigma_loader.h"

namespace vigil::detect {
namespace {

namespace fs = std::filesystem;

bool IsFalcoItem(const YAML::Node& item) {
  if (!item.IsMap()) return false;
  for (const char* key : {"required_engine_version", "required_plugin_versions", "priority", "desc",
                          "source", "override"}) {
    if (item[key]) return true;
  }
  // Falco lists/macros/rules with `append` (native files have no such key).
  return item["append"].IsDefined();
}

Status ExpandPaths(const std::vector<std::string>& paths, std::vector<std::string>* files) {
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string ext = it->path().extension().string();
        const std::string name = it->path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        if ((ext == ".yaml" || ext == ".yml") && it->is_regular_file(ec)) {
          found.push_back(it->path().string());
        }
      }
      if (ec) return Status::IoError("cannot list " + p + ": " + ec.message());
      std::sort(found.begin(), found.end());
      files->insert(files->end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      files->push_back(p);
    } else {
      return Status::NotFound("no such rule file or directory: " + p);
    }
  }
  return Status::Ok();
}

void Append(RuleSet&& from, RuleSet* into) {
  for (Rule& r : from.rules) into->rules.push_back(std::move(r));
  into->skipped_other_source += from.skipped_other_source;
  into->disabled += from.disabled;
  for (std::string& w : from.warnings) into->warnings.push_back(std::move(w));
}

}  // namespace

std::string_view RuleFormatName(RuleFormat f) {
  switch (f) {
    case RuleFormat::kNative:
      return "native";
    case RuleFormat::kFalco:
      return "falco";
    case RuleFormat::kSigma:
      return "sigma";
  }
  return "native";
}

Result<RuleFormat> DetectRuleFormat(std::string_view yaml, std::string_view name) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string(name) + ":" + std::to_string(e.mark.line + 1) + ":" +
                                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (root.IsMap() && root["detection"]) return RuleFormat::kSigma;
  if (root.IsSequence()) {
    for (const YAML::Node& item : root) {
      if (IsFalcoItem(item)) return RuleFormat::kFalco;
    }
    return RuleFormat::kNative;
  }
  if (root.IsNull()) return RuleFormat::kNative;  // an empty file: no rules
  return Status::InvalidArgument(std::string(name) +
                                 ":1:1: not a rules file (expected a YAML sequence of Vigil or "
                                 "Falco rules, or a Sigma rule with 'detection')");
}

Result<RuleSet> LoadRuleFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  RETURN_IF_ERROR(ExpandPaths(paths, &files));

  std::vector<std::string> native, falco, sigma;
  std::vector<RuleFormat> order;  // formats in order of first appearance
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return Status::IoError("cannot read rule file " + f);
    std::ostringstream text;
    text << in.rdbuf();
    ASSIGN_OR_RETURN(RuleFormat format, DetectRuleFormat(text.str(), f));
    if (std::find(order.begin(), order.end(), format) == order.end()) order.push_back(format);
    (format == RuleFormat::kFalco   ? falco
     : format == RuleFormat::kSigma ? sigma
                                    : native)
        .push_back(f);
  }

  RuleSet all;
  for (RuleFormat format : order) {
    Result<RuleSet> part = format == RuleFormat::kFalco   ? LoadFalcoRules(falco)
                           : format == RuleFormat::kSigma ? LoadSigmaRules(sigma)
                                                          : LoadNativeRules(native);
    if (!part.ok()) return part.status();
    Append(std::move(part).value(), &all);
  }
  return all;
}

std::string BlankInlineTests(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t blank_deeper_than = std::string_view::npos;  // in a tests block keyed at this indent
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol == std::string_view::npos ? text.size() : eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    const size_t indent = line.find_first_not_of(' ');
    const std::string_view body =
        indent == std::string_view::npos ? std::string_view() : line.substr(indent);
    if (blank_deeper_than != std::string_view::npos) {
      // Inside: blank lines, deeper lines, and sequence items at the key's own indentation.
      const bool inside = body.empty() || body[0] == '#' || indent > blank_deeper_than ||
                          (indent == blank_deeper_than && body.starts_with("- "));
      if (inside) {
        if (eol != std::string_view::npos) out.push_back('\n');
        continue;
      }
      blank_deeper_than = std::string_view::npos;
    }
    std::string_view key = body;
    while (!key.empty() && (key.back() == ' ' || key.back() == '\r')) key.remove_suffix(1);
    if (key == "tests:") {
      blank_deeper_than = indent;
      if (eol != std::string_view::npos) out.push_back('\n');
      continue;
    }
    out.append(line);
    if (eol != std::string_view::npos) out.push_back('\n');
  }
  return out;
}

Result<RuleSet> LoadBuiltinPack(PackContent content) {
  if (content == PackContent::kWithTests) return LoadNativeRulesFromFiles(BuiltinPackFiles());
  std::vector<std::string> texts;
  for (const EmbeddedFile& f : BuiltinPackFiles()) texts.push_back(BlankInlineTests(f.text));
  std::vector<EmbeddedFile> files;
  size_t i = 0;
  for (const EmbeddedFile& f : BuiltinPackFiles())
    files.push_back(EmbeddedFile{f.name, texts[i++]});
  return LoadNativeRulesFromFiles(files);
}

DetectorPtr MakeBuiltinDetector() {
  auto rules = LoadBuiltinPack(PackContent::kRulesOnly);
  if (!rules.ok()) {
    std::fprintf(stderr, "vigil: the built-in rule pack does not load: %s\n",
                 rules.status().message().c_str());
    std::abort();
  }
  auto engine = RuleEngine::Compile(*rules);
  if (!engine.ok()) {
    std::fprintf(stderr, "vigil: the built-in rule pack does not compile: %s\n",
                 engine.status().message().c_str());
    std::abort();
  }
  return std::move(engine).value();
}

}  // namespace vigil::detect
