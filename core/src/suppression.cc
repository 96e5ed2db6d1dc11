// Suppression matching, validation and its JSON form.
#include "vigil/core/suppression.h"

#include <simdjson.h>

#include "vigil/core/json_writer.h"
#include "vigil/core/time_util.h"

namespace vigil {

bool Suppression::Matches(const Finding& f) const {
  return f.rule_id == rule_id && (user.empty() || f.user == user) &&
         (namespace_.empty() || f.object.namespace_ == namespace_) &&
         (cluster.empty() || f.cluster == cluster);
}

Status CheckSuppression(const Suppression& s, int64_t now_us) {
  if (s.rule_id.empty()) return Status::InvalidArgument("'rule' is required");
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"rule", &s.rule_id},
                             {"user", &s.user},
                             {"namespace", &s.namespace_},
                             {"cluster", &s.cluster}}) {
    if (value->size() > Suppression::kMaxFieldBytes) {
      return Status::InvalidArgument("'" + std::string(name) + "' is longer than " +
                                     std::to_string(Suppression::kMaxFieldBytes) + " bytes");
    }
  }
  if (s.reason.size() > Suppression::kMaxReasonBytes) {
    return Status::InvalidArgument("'reason' is longer than " +
                                   std::to_string(Suppression::kMaxReasonBytes) + " bytes");
  }
  if (s.expires_us <= now_us) return Status::InvalidArgument("'expires' must be in the future");
  if (s.expires_us - now_us > Suppression::kMaxLifetimeUs) {
    return Status::InvalidArgument("'expires' must be at most 366 days from now");
  }
  return Status::Ok();
}

void AppendSuppressionJson(const Suppression& s, std::string* out) {
  auto field = [out](std::string_view k, std::string_view v, bool last = false) {
    AppendJsonString(k, out);
    out->push_back(':');
    AppendJsonString(v, out);
    if (!last) out->push_back(',');
  };
  out->push_back('{');
  field("id", s.id);
  field("rule", s.rule_id);
  field("user", s.user);
  field("namespace", s.namespace_);
  field("cluster", s.cluster);
  field("expires", FormatTimestampMicros(s.expires_us));
  field("reason", s.reason);
  field("created_by", s.created_by);
  field("created_at", FormatTimestampMicros(s.created_at_us), true);
  out->push_back('}');
}

std::string SuppressionToJson(const Suppression& s) {
  std::string out;
  AppendSuppressionJson(s, &out);
  return out;
}

Result<Suppression> SuppressionFromJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root)) {
    return Status::Corruption(std::string("suppression: ") + simdjson::error_message(err));
  }
  Suppression s;
  auto str = [&](const char* key, std::string* out) -> Status {
    std::string_view v;
    if (root[key].get_string().get(v)) {
      return Status::Corruption(std::string("suppression: field '") + key +
                                "' missing or not a string");
    }
    out->assign(v);
    return Status::Ok();
  };
  auto time = [&](const char* key, int64_t* out) -> Status {
    std::string t;
    RETURN_IF_ERROR(str(key, &t));
    auto us = ParseTimestampMicros(t);
    if (!us) return Status::Corruption(std::string("suppression: bad timestamp in '") + key + "'");
    *out = *us;
    return Status::Ok();
  };
  RETURN_IF_ERROR(str("id", &s.id));
  RETURN_IF_ERROR(str("rule", &s.rule_id));
  RETURN_IF_ERROR(str("user", &s.user));
  RETURN_IF_ERROR(str("namespace", &s.namespace_));
  RETURN_IF_ERROR(str("cluster", &s.cluster));
  RETURN_IF_ERROR(time("expires", &s.expires_us));
  RETURN_IF_ERROR(str("reason", &s.reason));
  RETURN_IF_ERROR(str("created_by", &s.created_by));
  RETURN_IF_ERROR(time("created_at", &s.created_at_us));
  return s;
}

}  // namespace vigil
