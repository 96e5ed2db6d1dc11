// RuleHooksFor and SourceStatusOf (see serve_api.h).
#include "serve_api.h"

#include <string>

namespace vigil::app {
namespace {

std::string_view LoaderName(detect::RuleOrigin origin) {
  switch (origin) {
    case detect::RuleOrigin::kNative:
      return "native";
    case detect::RuleOrigin::kFalco:
      return "falco";
    case detect::RuleOrigin::kSigma:
      return "sigma";
  }
  return "native";
}

}  // namespace

api::RuleHooks RuleHooksFor(RuleProvider* rules) {
  api::RuleHooks hooks;
  hooks.list = [rules] {
    api::RuleListing listing;
    auto loaded = rules->loaded(&listing.generation);
    if (loaded == nullptr) return listing;
    listing.rules.reserve(loaded->size());
    for (const LoadedRule& r : *loaded) {
      api::RuleView v;
      v.id = r.id;
      v.name = r.name;
      v.severity = std::string(SeverityName(r.severity));
      v.loader = std::string(LoaderName(r.origin));
      v.file = r.source.file;
      v.line = r.source.line;
      v.stateful = r.stateful;
      v.enabled = r.enabled;
      v.attack_ids = r.attack_ids;
      listing.rules.push_back(std::move(v));
    }
    return listing;
  };
  hooks.reload = [rules] { return rules->Reload(); };
  return hooks;
}

std::vector<api::SourceStatus> SourceStatusOf(const ingest::RecordSource* source) {
  if (source == nullptr) return {};
  const ingest::SourceHealth h = source->Health();
  return {api::SourceStatus{std::string(source->kind()), h.ready, h.lag, h.why}};
}

}  // namespace vigil::app
