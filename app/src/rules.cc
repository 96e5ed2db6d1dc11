// RuleProvider and the Detector that follows it.
#include "vigil/app/rules.h"

#include "vigil/detect/rule_files.h"

namespace vigil::app {

Result<detect::RuleSet> LoadRules(const std::vector<std::string>& paths) {
  if (paths.empty()) return detect::LoadBuiltinPack();
  return detect::LoadRuleFiles(paths);
}

Status RuleProvider::Reload() {
  std::lock_guard<std::mutex> reload(reload_mu_);
  ASSIGN_OR_RETURN(detect::RuleSet rules, LoadRules(paths_));
  ASSIGN_OR_RETURN(std::unique_ptr<detect::RuleEngine> engine,
                   detect::RuleEngine::Compile(rules));
  {
    std::lock_guard<std::mutex> lock(mu_);
    engine_ = std::move(engine);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return Status::Ok();
}

std::shared_ptr<const detect::RuleEngine> RuleProvider::engine() const {
  std::lock_guard<std::mutex> lock(mu_);
  return engine_;
}

size_t RuleProvider::rule_count() const {
  auto e = engine();
  return e ? e->rules().size() : 0;
}

namespace {

class FollowingDetector final : public detect::Detector {
 public:
  explicit FollowingDetector(const RuleProvider* provider) : provider_(provider) { Refresh(); }

  void Evaluate(const AuditEvent& event, std::vector<Finding>* out) override {
    if (provider_->generation() != generation_) Refresh();
    engine_->Evaluate(event, out);
  }
  const std::vector<detect::RuleInfo>& rules() const override { return engine_->rules(); }

 private:
  void Refresh() {
    generation_ = provider_->generation();
    engine_ = provider_->engine()->Clone();
  }

  const RuleProvider* provider_;
  uint64_t generation_ = 0;
  std::unique_ptr<detect::RuleEngine> engine_;
};

}  // namespace

detect::DetectorPtr MakeFollowingDetector(const RuleProvider* provider) {
  return std::make_unique<FollowingDetector>(provider);
}

}  // namespace vigil::app
