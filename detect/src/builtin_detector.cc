// BuiltinDetector: runs the built-in rule table over each event and turns hits into Findings.
#include <string>
#include <utility>
#include <vector>

#include "builtin_rules.h"
#include "json_body.h"
#include "vigil/detect/detector.h"

namespace vigil::detect {
namespace {

class BuiltinDetector final : public Detector {
 public:
  BuiltinDetector() : rules_(MakeBuiltinRules()) {
    infos_.reserve(rules_.size());
    for (const BuiltinRule& r : rules_) infos_.push_back(r.info);
  }

  void Evaluate(const AuditEvent& event, std::vector<Finding>* out) override {
    LazyBody body(&parser_, event.request_object);  // decoded only if a rule asks
    for (const BuiltinRule& rule : rules_) {
      RuleHit hit;
      if (rule.match(event, body, &hit)) out->push_back(MakeFinding(rule.info, event, &hit));
    }
  }

  const std::vector<RuleInfo>& rules() const override { return infos_; }

 private:
  static Finding MakeFinding(const RuleInfo& rule, const AuditEvent& e, RuleHit* hit) {
    Finding f;
    // auditID is the request's identity across stages and redeliveries. Without one (a
    // malformed event) fall back to what the event is about, so unrelated requests don't merge.
    std::string key(e.audit_id);
    if (key.empty()) {
      key = "no-audit-id|" + std::to_string(e.EventTimeMicros()) + "|" +
            std::string(e.user.username) + "|" + std::string(e.request_uri);
    }
    f.id = MakeFindingId(rule.id, e.cluster, key);
    f.rule_id = rule.id;
    f.rule_name = rule.name;
    f.severity = hit->severity.value_or(rule.severity);
    f.attack_ids = rule.attack_ids;
    f.cluster = e.cluster;
    f.user = e.user.username;
    f.groups.assign(e.user.groups.begin(), e.user.groups.end());
    f.impersonated_user = e.impersonated_user.username;
    f.source_ips.assign(e.source_ips.begin(), e.source_ips.end());
    f.user_agent = e.user_agent;
    f.verb = e.verb;
    f.object.api_group = e.object_ref.api_group;
    f.object.resource = e.object_ref.resource;
    f.object.namespace_ = e.object_ref.namespace_;
    f.object.name =
        e.object_ref.name.empty() ? std::move(hit->object_name) : std::string(e.object_ref.name);
    f.object.subresource = e.object_ref.subresource;
    f.first_seen_us = e.EventTimeMicros();
    f.last_seen_us = f.first_seen_us;
    f.count = 1;
    if (!e.audit_id.empty()) f.evidence.emplace_back(e.audit_id);
    f.message = std::move(hit->message);
    f.status = FindingStatus::kOpen;
    return f;
  }

  std::vector<BuiltinRule> rules_;
  std::vector<RuleInfo> infos_;
  JsonBodyParser parser_;
};

}  // namespace

DetectorPtr MakeBuiltinDetector() { return std::make_unique<BuiltinDetector>(); }

}  // namespace vigil::detect
