// Finding ids and the Finding JSON encoding.
#include "vigil/core/finding.h"

#include <openssl/evp.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "vigil/core/json_writer.h"
#include "vigil/core/time_util.h"

namespace vigil {

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kLow:
      return "low";
    case Severity::kMedium:
      return "medium";
    case Severity::kHigh:
      return "high";
    case Severity::kCritical:
      return "critical";
  }
  return "info";
}

std::optional<Severity> ParseSeverity(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "info" || t == "informational") return Severity::kInfo;
  if (t == "low") return Severity::kLow;
  if (t == "medium") return Severity::kMedium;
  if (t == "high") return Severity::kHigh;
  if (t == "critical") return Severity::kCritical;
  return std::nullopt;
}

std::string_view FindingStatusName(FindingStatus s) {
  switch (s) {
    case FindingStatus::kOpen:
      return "open";
    case FindingStatus::kAcknowledged:
      return "acknowledged";
    case FindingStatus::kSuppressed:
      return "suppressed";
    case FindingStatus::kResolved:
      return "resolved";
  }
  return "open";
}

std::optional<FindingStatus> ParseFindingStatus(std::string_view t) {
  if (t == "open") return FindingStatus::kOpen;
  if (t == "acknowledged") return FindingStatus::kAcknowledged;
  if (t == "suppressed") return FindingStatus::kSuppressed;
  if (t == "resolved") return FindingStatus::kResolved;
  return std::nullopt;
}

std::string MakeFindingId(std::string_view rule_id, std::string_view cluster, std::string_view key,
                          int64_t window_start_us) {
  // Length-prefixed fields so that ("ab","c") and ("a","bc") differ.
  std::string material;
  for (std::string_view part : {rule_id, cluster, key}) {
    uint32_t n = static_cast<uint32_t>(part.size());
    material.append(reinterpret_cast<const char*>(&n), sizeof n);
    material.append(part);
  }
  material.append(reinterpret_cast<const char*>(&window_start_us), sizeof window_start_us);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(material.data(), material.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(32);
  for (int i = 0; i < 16; ++i) {
    id.push_back(kHex[digest[i] >> 4]);
    id.push_back(kHex[digest[i] & 0xF]);
  }
  return id;
}

namespace {

void Key(std::string_view k, std::string* out) {
  AppendJsonString(k, out);
  out->push_back(':');
}

void StrField(std::string_view k, std::string_view v, std::string* out) {
  Key(k, out);
  AppendJsonString(v, out);
  out->push_back(',');
}

void StrArray(std::string_view k, const std::vector<std::string>& v, std::string* out) {
  Key(k, out);
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonString(v[i], out);
  }
  out->append("],");
}

// A wall-clock time that is 0 when unset: RFC 3339 or null.
void OptTimeField(std::string_view k, int64_t us, std::string* out) {
  Key(k, out);
  if (us == 0) {
    out->append("null");
  } else {
    AppendJsonString(FormatTimestampMicros(us), out);
  }
  out->push_back(',');
}

}  // namespace

void AppendFindingJson(const Finding& f, std::string* out) {
  out->push_back('{');
  StrField("id", f.id, out);
  StrField("rule_id", f.rule_id, out);
  StrField("rule_name", f.rule_name, out);
  StrField("severity", SeverityName(f.severity), out);
  StrArray("attack_ids", f.attack_ids, out);
  StrField("cluster", f.cluster, out);
  Key("user", out);
  out->push_back('{');
  StrField("username", f.user, out);
  StrArray("groups", f.groups, out);
  Key("impersonated", out);
  AppendJsonString(f.impersonated_user, out);
  out->append("},");
  StrArray("source_ips", f.source_ips, out);
  StrField("user_agent", f.user_agent, out);
  StrField("verb", f.verb, out);
  Key("object", out);
  out->push_back('{');
  StrField("api_group", f.object.api_group, out);
  StrField("resource", f.object.resource, out);
  StrField("namespace", f.object.namespace_, out);
  StrField("name", f.object.name, out);
  Key("subresource", out);
  AppendJsonString(f.object.subresource, out);
  out->append("},");
  StrField("first_seen", FormatTimestampMicros(f.first_seen_us), out);
  StrField("last_seen", FormatTimestampMicros(f.last_seen_us), out);
  Key("count", out);
  out->append(std::to_string(f.count));
  out->push_back(',');
  StrArray("evidence", f.evidence, out);
  StrField("message", f.message, out);
  StrArray("tags", f.tags, out);
  Key("fields", out);
  out->push_back('{');
  for (size_t i = 0; i < f.fields.size(); ++i) {
    if (i) out->push_back(',');
    Key(f.fields[i].first, out);
    AppendJsonString(f.fields[i].second, out);
  }
  out->append("},");
  StrField("status", FindingStatusName(f.status), out);
  StrField("status_by", f.status_by, out);
  OptTimeField("status_at", f.status_at_us, out);
  StrField("note", f.note, out);
  StrField("note_by", f.note_by, out);
  OptTimeField("note_at", f.note_at_us, out);
  Key("suppressed_by", out);
  AppendJsonString(f.suppressed_by, out);
  out->push_back('}');
}

std::string FindingToJson(const Finding& f) {
  std::string out;
  out.reserve(512);
  AppendFindingJson(f, &out);
  return out;
}

namespace {

using simdjson::dom::element;

Status GetStr(element obj, const char* key, std::string* out) {
  std::string_view v;
  auto err = obj[key].get_string().get(v);
  if (err)
    return Status::Corruption(std::string("finding: field '") + key + "' missing or not a string");
  out->assign(v);
  return Status::Ok();
}

Status GetStrArray(element obj, const char* key, std::vector<std::string>* out) {
  simdjson::dom::array arr;
  if (obj[key].get_array().get(arr)) {
    return Status::Corruption(std::string("finding: field '") + key + "' missing or not an array");
  }
  out->clear();
  for (element e : arr) {
    std::string_view v;
    if (e.get_string().get(v))
      return Status::Corruption(std::string("finding: '") + key + "' item not a string");
    out->emplace_back(v);
  }
  return Status::Ok();
}

Status GetTime(element obj, const char* key, int64_t* out) {
  std::string s;
  RETURN_IF_ERROR(GetStr(obj, key, &s));
  auto t = ParseTimestampMicros(s);
  if (!t) return Status::Corruption(std::string("finding: bad timestamp in '") + key + "'");
  *out = *t;
  return Status::Ok();
}

// Triage fields came later: absent means unset; present with the wrong type is corrupt.
Status GetOptStr(element obj, const char* key, std::string* out) {
  element e;
  if (obj[key].get(e)) return Status::Ok();
  std::string_view v;
  if (e.get_string().get(v)) {
    return Status::Corruption(std::string("finding: field '") + key + "' not a string");
  }
  out->assign(v);
  return Status::Ok();
}

Status GetOptTime(element obj, const char* key, int64_t* out) {
  element e;
  if (obj[key].get(e) || e.is_null()) return Status::Ok();
  std::string_view v;
  if (e.get_string().get(v)) {
    return Status::Corruption(std::string("finding: field '") + key + "' not a string or null");
  }
  auto t = ParseTimestampMicros(v);
  if (!t) return Status::Corruption(std::string("finding: bad timestamp in '") + key + "'");
  *out = *t;
  return Status::Ok();
}

}  // namespace

Result<Finding> FindingFromJson(std::string_view json) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root)) {
    return Status::Corruption(std::string("finding: ") + simdjson::error_message(err));
  }
  if (!root.is_object()) return Status::Corruption("finding: not a JSON object");
  Finding f;
  std::string s;
  RETURN_IF_ERROR(GetStr(root, "id", &f.id));
  RETURN_IF_ERROR(GetStr(root, "rule_id", &f.rule_id));
  RETURN_IF_ERROR(GetStr(root, "rule_name", &f.rule_name));
  RETURN_IF_ERROR(GetStr(root, "severity", &s));
  auto sev = ParseSeverity(s);
  if (!sev) return Status::Corruption("finding: unknown severity '" + s + "'");
  f.severity = *sev;
  RETURN_IF_ERROR(GetStrArray(root, "attack_ids", &f.attack_ids));
  RETURN_IF_ERROR(GetStr(root, "cluster", &f.cluster));
  element user;
  if (root["user"].get(user) || !user.is_object())
    return Status::Corruption("finding: 'user' missing");
  RETURN_IF_ERROR(GetStr(user, "username", &f.user));
  RETURN_IF_ERROR(GetStrArray(user, "groups", &f.groups));
  RETURN_IF_ERROR(GetStr(user, "impersonated", &f.impersonated_user));
  RETURN_IF_ERROR(GetStrArray(root, "source_ips", &f.source_ips));
  RETURN_IF_ERROR(GetStr(root, "user_agent", &f.user_agent));
  RETURN_IF_ERROR(GetStr(root, "verb", &f.verb));
  element obj;
  if (root["object"].get(obj) || !obj.is_object())
    return Status::Corruption("finding: 'object' missing");
  RETURN_IF_ERROR(GetStr(obj, "api_group", &f.object.api_group));
  RETURN_IF_ERROR(GetStr(obj, "resource", &f.object.resource));
  RETURN_IF_ERROR(GetStr(obj, "namespace", &f.object.namespace_));
  RETURN_IF_ERROR(GetStr(obj, "name", &f.object.name));
  RETURN_IF_ERROR(GetStr(obj, "subresource", &f.object.subresource));
  RETURN_IF_ERROR(GetTime(root, "first_seen", &f.first_seen_us));
  RETURN_IF_ERROR(GetTime(root, "last_seen", &f.last_seen_us));
  uint64_t count = 0;
  if (root["count"].get_uint64().get(count)) return Status::Corruption("finding: 'count' missing");
  f.count = count;
  RETURN_IF_ERROR(GetStrArray(root, "evidence", &f.evidence));
  RETURN_IF_ERROR(GetStr(root, "message", &f.message));
  element opt;
  if (!root["tags"].get(opt)) RETURN_IF_ERROR(GetStrArray(root, "tags", &f.tags));
  if (!root["fields"].get(opt)) {
    simdjson::dom::object fields;
    if (opt.get_object().get(fields)) return Status::Corruption("finding: 'fields' not an object");
    for (auto kv : fields) {
      std::string_view v;
      if (kv.value.get_string().get(v)) {
        return Status::Corruption("finding: 'fields' value not a string");
      }
      f.fields.emplace_back(std::string(kv.key), std::string(v));
    }
  }
  RETURN_IF_ERROR(GetStr(root, "status", &s));
  auto st = ParseFindingStatus(s);
  if (!st) return Status::Corruption("finding: unknown status '" + s + "'");
  f.status = *st;
  RETURN_IF_ERROR(GetOptStr(root, "status_by", &f.status_by));
  RETURN_IF_ERROR(GetOptTime(root, "status_at", &f.status_at_us));
  RETURN_IF_ERROR(GetOptStr(root, "note", &f.note));
  RETURN_IF_ERROR(GetOptStr(root, "note_by", &f.note_by));
  RETURN_IF_ERROR(GetOptTime(root, "note_at", &f.note_at_us));
  RETURN_IF_ERROR(GetOptStr(root, "suppressed_by", &f.suppressed_by));
  return f;
}

}  // namespace vigil
