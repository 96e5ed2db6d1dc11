// Suppression: an analyst's "stop raising this" for a rule, optionally narrowed to a user, a
// namespace and/or a cluster, until an expiry. Matching findings are still stored, marked
// kSuppressed (FindingStore::Put), never dropped. SuppressionStore keeps them; the interface
// lives in core so that the API can manage them without depending on the store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/core/finding.h"
#include "vigil/core/status.h"

namespace vigil {

struct Suppression {
  static constexpr size_t kMaxFieldBytes = 256;    // rule, user, namespace, cluster
  static constexpr size_t kMaxReasonBytes = 1024;  // reason
  static constexpr int64_t kMaxLifetimeUs = int64_t{366} * 24 * 3600 * 1000000;  // ~1 year

  std::string id;       // assigned by the store: 32 lowercase hex characters
  std::string rule_id;  // required
  // Each "" = any; all given ones must equal the finding's (user, object namespace, cluster).
  std::string user;
  std::string namespace_;
  std::string cluster;
  int64_t expires_us = 0;  // wall clock; active while now < expires_us
  std::string reason;
  std::string created_by;  // the principal that created it
  int64_t created_at_us = 0;

  // Whether it applies to f, expiry aside.
  bool Matches(const Finding& f) const;
  bool ActiveAt(int64_t now_us) const { return now_us < expires_us; }
};

// InvalidArgument (the message names the field) unless: rule_id non-empty, fields within their
// limits, expires_us in (now_us, now_us + kMaxLifetimeUs].
Status CheckSuppression(const Suppression& s, int64_t now_us);

// {"id","rule","user","namespace","cluster","expires" (RFC 3339),"reason","created_by",
// "created_at" (RFC 3339)}: the API's form and the stored value.
std::string SuppressionToJson(const Suppression& s);
void AppendSuppressionJson(const Suppression& s, std::string* out);
// Corruption for anything SuppressionToJson cannot have written.
Result<Suppression> SuppressionFromJson(std::string_view json);

class SuppressionStore {
 public:
  virtual ~SuppressionStore() = default;

  // Stores `s` (its id and created_at_us are assigned here, from the store's clock) and returns
  // it as stored. InvalidArgument when CheckSuppression fails; ResourceExhausted when the store
  // already keeps its maximum of suppressions (after forgetting expired ones). Thread-safe.
  virtual Result<Suppression> AddSuppression(Suppression s) = 0;

  // The active suppressions, or all kept ones with include_expired; ordered by id. Thread-safe.
  virtual Result<std::vector<Suppression>> ListSuppressions(bool include_expired) const = 0;

  // NotFound for an unknown id. Findings it marked stay kSuppressed until their next write.
  // Thread-safe.
  virtual Status DeleteSuppression(const std::string& id) = 0;
};
using SuppressionStorePtr = std::unique_ptr<SuppressionStore>;

}  // namespace vigil
