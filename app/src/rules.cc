// RuleProvider and the Detector that follows it.
#include "vigil/app/rules.h"

#include <unordered_set>

#include "vigil/detect/rule_files.h"

namespace vigil::app {

Result<detect::RuleSet> LoadRules(const std::vector<std::string>& paths,
                                  detect::PackContent builtin) {
  if (paths.empty()) return detect::LoadBuiltinPack(builtin);
  return detect::LoadRuleFiles(paths);
}

Status KeepOnly(const std::vector<std::string>& only, detect::RuleSet* rules) {
  std::unordered_set<std::string> wanted(only.begin(), only.end());
  std::unordered_set<std::string> found;
  for (detect::Rule& r : rules->rules) {
    if (wanted.count(r.id) > 0) {
      found.insert(r.id);
    } else {
      r.enabled = false;
    }
  }
  for (const std::string& id : only) {
    if (found.count(id) == 0) return Status::InvalidArgument("no rule with id '" + id + "'");
  }
  return Status::Ok();
}

Status RuleProvider::Reload() {
  std::lock_guard<std::mutex> reload(reload_mu_);
  // Running rules need no inline tests (`vigil rules test` runs them): half the loading time.
  ASSIGN_OR_RETURN(detect::RuleSet rules, LoadRules(paths_, detect::PackContent::kRulesOnly));
  if (!only_.empty()) RETURN_IF_ERROR(KeepOnly(only_, &rules));
  ASSIGN_OR_RETURN(std::unique_ptr<detect::RuleEngine> engine, detect::RuleEngine::Compile(rules));
  auto loaded = std::make_shared<std::vector<LoadedRule>>();
  loaded->reserve(rules.rules.size());
  for (const detect::Rule& r : rules.rules) {
    loaded->push_back({r.id, r.name, r.severity, r.origin, r.source, r.stateful != nullptr,
                       r.enabled, r.attack_ids});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    engine_ = std::move(engine);
    loaded_ = std::move(loaded);
    // Under mu_ with loaded_, so that a listing and its generation always go together.
    loaded_generation_ = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
  }
  return Status::Ok();
}

std::shared_ptr<const detect::RuleEngine> RuleProvider::engine() const {
  std::lock_guard<std::mutex> lock(mu_);
  return engine_;
}

std::shared_ptr<const std::vector<LoadedRule>> RuleProvider::loaded(uint64_t* generation) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (generation != nullptr) *generation = loaded_generation_;
  return loaded_;
}

size_t RuleProvider::rule_count() const {
  auto e = engine();
  return e ? e->rules().size() : 0;
}

namespace {

class FollowingDetector final : public detect::Detector {
 public:
  FollowingDetector(const RuleProvider* provider, StateStore* state,
                    const detect::StatefulOptions& options)
      : provider_(provider) {
    generation_ = provider_->generation();
    auto engine = provider_->engine()->Clone();
    if (state != nullptr) {
      stateful_ = std::make_unique<detect::StatefulDetector>(std::move(engine), state, options);
    } else {
      engine_ = std::move(engine);
    }
  }

  void Evaluate(const AuditEvent& event, std::vector<Finding>* out) override {
    if (provider_->generation() != generation_) Refresh();
    if (stateful_) {
      stateful_->Evaluate(event, out);
    } else {
      engine_->Evaluate(event, out);
    }
  }
  const std::vector<detect::RuleInfo>& rules() const override {
    return stateful_ ? stateful_->rules() : engine_->rules();
  }
  detect::StatefulDetector* stateful() override { return stateful_.get(); }
  // Workers evaluate with the rules of this engine; the pipeline asks for new ones when
  // generation() changes.
  uint64_t generation() const override { return provider_->generation(); }
  std::unique_ptr<detect::RuleEngine> NewWorkerEngine() override {
    if (provider_->generation() != generation_) Refresh();
    return stateful_ ? stateful_->NewWorkerEngine() : engine_->Clone();
  }

 private:
  void Refresh() {
    generation_ = provider_->generation();
    if (stateful_) {
      stateful_->ReplaceEngine(provider_->engine()->Clone());
    } else {
      engine_ = provider_->engine()->Clone();
    }
  }

  const RuleProvider* provider_;
  uint64_t generation_ = 0;
  std::unique_ptr<detect::RuleEngine> engine_;          // stateless
  std::unique_ptr<detect::StatefulDetector> stateful_;  // or stateful
};

}  // namespace

detect::DetectorPtr MakeFollowingDetector(const RuleProvider* provider, StateStore* state,
                                          const detect::StatefulOptions& options) {
  return std::make_unique<FollowingDetector>(provider, state, options);
}

}  // namespace vigil::app
