// vigil_rules_doc: writes docs/rules.md from the built-in rule pack.
//   vigil_rules_doc [RULES_DIR [OUTPUT]]
// (defaults: detect/rules and docs/rules.md of the source tree)
#include "rules_doc.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "vigil/detect/native_loader.h"

int main(int argc, char** argv) {
  std::string rules_dir = argc > 1 ? argv[1] : std::string(VIGIL_SOURCE_DIR) + "/detect/rules";
  std::string output = argc > 2 ? argv[2] : std::string(VIGIL_SOURCE_DIR) + "/docs/rules.md";
  vigil::Result<vigil::detect::RuleSet> set = vigil::detect::LoadNativeRules({rules_dir});
  if (!set.ok()) {
    std::fprintf(stderr, "vigil_rules_doc: %s\n", set.status().message().c_str());
    return 1;
  }
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  out << vigil::detect::tools::RenderRulesMarkdown(*set);
  if (!out.good()) {
    std::fprintf(stderr, "vigil_rules_doc: cannot write %s\n", output.c_str());
    return 1;
  }
  std::printf("wrote %s (%zu rules)\n", output.c_str(), set->rules.size());
  return 0;
}
