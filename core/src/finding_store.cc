// What every FindingStore shares: the filter's matching and the default UpdateTriage.
#include "vigil/core/finding_store.h"

#include <algorithm>

namespace vigil {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `needle` is already lower case.
bool ContainsFolded(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                        [](char h, char n) { return Lower(h) == n; });
  return it != hay.end();
}

}  // namespace

bool FindingMatches(const Finding& f, const FindingFilter& q) {
  if (q.cluster && f.cluster != *q.cluster) return false;
  if (q.rule_id && f.rule_id != *q.rule_id) return false;
  if (q.user && f.user != *q.user) return false;
  if (q.namespace_ && f.object.namespace_ != *q.namespace_) return false;
  if (q.status && f.status != *q.status) return false;
  if (q.min_severity && f.severity < *q.min_severity) return false;
  if (q.since_us && f.first_seen_us < *q.since_us) return false;
  if (q.until_us && f.first_seen_us >= *q.until_us) return false;
  if (q.text) {
    std::string needle(*q.text);
    std::transform(needle.begin(), needle.end(), needle.begin(), Lower);
    bool any = false;
    for (std::string_view field :
         {std::string_view(f.rule_id), std::string_view(f.rule_name), std::string_view(f.message),
          std::string_view(f.user), std::string_view(f.object.name),
          std::string_view(f.object.namespace_)}) {
      if (ContainsFolded(field, needle)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

Result<Finding> FindingStore::UpdateTriage(const std::string&, const TriageUpdate&) {
  return Status::FailedPrecondition("this finding store does not keep triage");
}

}  // namespace vigil
