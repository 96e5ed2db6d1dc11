// Field-by-field reading of an audit Event with simdjson On-Demand (see event_reader.h).
#include "event_reader.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <charconv>
#include <cstring>
#include <string>

#include "vigil/core/time_util.h"

namespace vigil::ingest::internal {
namespace {

using simdjson::error_code;
using simdjson::SUCCESS;
using simdjson::ondemand::json_type;
using simdjson::ondemand::object;
using simdjson::ondemand::value;

// Each reader returns a simdjson error only for JSON-level failures; wrong types are dropped.
#define VIGIL_JSON_TRY(expr)                      \
  do {                                            \
    error_code vigil_err_ = (expr);               \
    if (vigil_err_ != SUCCESS) return vigil_err_; \
  } while (0)

error_code TypeOf(value& v, json_type* t) { return v.type().get(*t); }

error_code ReadString(value& v, std::string_view name, std::string_view* out, ParseReport* report) {
  json_type t;
  VIGIL_JSON_TRY(TypeOf(v, &t));
  if (t == json_type::string) return v.get_string().get(*out);
  if (t != json_type::null) report->Drop(name);
  return SUCCESS;
}

error_code ReadStringArray(value& v, std::string_view name, std::vector<std::string_view>* out,
                           ParseReport* report) {
  json_type t;
  VIGIL_JSON_TRY(TypeOf(v, &t));
  if (t != json_type::array) {
    if (t != json_type::null) report->Drop(name);
    return SUCCESS;
  }
  simdjson::ondemand::array arr;
  VIGIL_JSON_TRY(v.get_array().get(arr));
  bool dropped = false;
  for (auto elem : arr) {
    value e;
    VIGIL_JSON_TRY(elem.get(e));
    json_type et;
    VIGIL_JSON_TRY(TypeOf(e, &et));
    if (et == json_type::string) {
      std::string_view s;
      VIGIL_JSON_TRY(e.get_string().get(s));
      out->push_back(s);
    } else if (!dropped) {
      dropped = true;
      report->Drop(name);
    }
  }
  return SUCCESS;
}

// Returns true (in *is_object) when v is an object; drops `name` when it is another non-null.
error_code OpenObject(value& v, std::string_view name, object* obj, bool* is_object,
                      ParseReport* report) {
  json_type t;
  VIGIL_JSON_TRY(TypeOf(v, &t));
  *is_object = (t == json_type::object);
  if (*is_object) return v.get_object().get(*obj);
  if (t != json_type::null) report->Drop(name);
  return SUCCESS;
}

error_code ReadUser(value& v, bool impersonated, UserInfo* user, ParseReport* report) {
  object obj;
  bool is_obj = false;
  VIGIL_JSON_TRY(OpenObject(v, impersonated ? "impersonatedUser" : "user", &obj, &is_obj, report));
  if (!is_obj) return SUCCESS;
  user->present = true;
  for (auto field : obj) {
    std::string_view key;
    VIGIL_JSON_TRY(field.unescaped_key().get(key));
    value fv;
    VIGIL_JSON_TRY(field.value().get(fv));
    if (key == "username") {
      VIGIL_JSON_TRY(ReadString(fv, impersonated ? "impersonatedUser.username" : "user.username",
                                &user->username, report));
    } else if (key == "uid") {
      VIGIL_JSON_TRY(
          ReadString(fv, impersonated ? "impersonatedUser.uid" : "user.uid", &user->uid, report));
    } else if (key == "groups") {
      VIGIL_JSON_TRY(ReadStringArray(fv, impersonated ? "impersonatedUser.groups" : "user.groups",
                                     &user->groups, report));
    } else if (key == "extra") {
      std::string_view name = impersonated ? "impersonatedUser.extra" : "user.extra";
      object extra;
      bool extra_is_obj = false;
      VIGIL_JSON_TRY(OpenObject(fv, name, &extra, &extra_is_obj, report));
      if (!extra_is_obj) continue;
      for (auto ef : extra) {
        std::string_view ekey;
        VIGIL_JSON_TRY(ef.unescaped_key().get(ekey));
        value ev;
        VIGIL_JSON_TRY(ef.value().get(ev));
        UserInfo::Extra& entry = user->extra.emplace_back();
        entry.key = ekey;
        entry.values.clear();
        json_type et;
        VIGIL_JSON_TRY(TypeOf(ev, &et));
        if (et == json_type::string) {
          // A lone string where []string belongs: keep it as a one-element list.
          std::string_view s;
          VIGIL_JSON_TRY(ev.get_string().get(s));
          entry.values.push_back(s);
          ++report->coerced_fields;
        } else {
          VIGIL_JSON_TRY(ReadStringArray(ev, name, &entry.values, report));
        }
      }
    }
  }
  return SUCCESS;
}

error_code ReadObjectRef(value& v, ObjectRef* ref, ParseReport* report) {
  object obj;
  bool is_obj = false;
  VIGIL_JSON_TRY(OpenObject(v, "objectRef", &obj, &is_obj, report));
  if (!is_obj) return SUCCESS;
  ref->present = true;
  for (auto field : obj) {
    std::string_view key;
    VIGIL_JSON_TRY(field.unescaped_key().get(key));
    value fv;
    VIGIL_JSON_TRY(field.value().get(fv));
    if (key == "resource") {
      VIGIL_JSON_TRY(ReadString(fv, "objectRef.resource", &ref->resource, report));
    } else if (key == "namespace") {
      VIGIL_JSON_TRY(ReadString(fv, "objectRef.namespace", &ref->namespace_, report));
    } else if (key == "name") {
      VIGIL_JSON_TRY(ReadString(fv, "objectRef.name", &ref->name, report));
    } else if (key == "uid") {
      VIGIL_JSON_TRY(ReadString(fv, "objectRef.uid", &ref->uid, report));
    } else if (key == "apiGroup") {
      VIGIL_JSON_TRY(ReadString(fv, "objectRef.apiGroup", &ref->api_group, report));
    } else if (key == "apiVersion") {
      VIGIL_JSON_TRY(ReadString(fv, "objectRef.apiVersion", &ref->api_version, report));
    } else if (key == "resourceVersion") {
      VIGIL_JSON_TRY(ReadString(fv, "objectRef.resourceVersion", &ref->resource_version, report));
    } else if (key == "subresource") {
      VIGIL_JSON_TRY(ReadString(fv, "objectRef.subresource", &ref->subresource, report));
    }
  }
  return SUCCESS;
}

bool ParseCode(std::string_view s, int32_t* code) {
  int64_t n = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return false;
  if (n < 0 || n > INT32_MAX) return false;
  *code = static_cast<int32_t>(n);
  return true;
}

error_code ReadResponseStatus(value& v, ResponseStatus* rs, ParseReport* report) {
  object obj;
  bool is_obj = false;
  VIGIL_JSON_TRY(OpenObject(v, "responseStatus", &obj, &is_obj, report));
  if (!is_obj) return SUCCESS;
  rs->present = true;
  for (auto field : obj) {
    std::string_view key;
    VIGIL_JSON_TRY(field.unescaped_key().get(key));
    value fv;
    VIGIL_JSON_TRY(field.value().get(fv));
    if (key == "code") {
      json_type t;
      VIGIL_JSON_TRY(TypeOf(fv, &t));
      if (t == json_type::number) {
        int64_t n = 0;
        if (fv.get_int64().get(n) == SUCCESS && n >= 0 && n <= INT32_MAX) {
          rs->code = static_cast<int32_t>(n);
          rs->has_code = true;
        } else {
          report->Drop("responseStatus.code");
        }
      } else if (t == json_type::string) {
        std::string_view s;
        VIGIL_JSON_TRY(fv.get_string().get(s));
        if (ParseCode(s, &rs->code)) {
          rs->has_code = true;
          ++report->coerced_fields;
        } else {
          report->Drop("responseStatus.code");
        }
      } else if (t != json_type::null) {
        report->Drop("responseStatus.code");
      }
    } else if (key == "status") {
      VIGIL_JSON_TRY(ReadString(fv, "responseStatus.status", &rs->status, report));
    } else if (key == "reason") {
      VIGIL_JSON_TRY(ReadString(fv, "responseStatus.reason", &rs->reason, report));
    } else if (key == "message") {
      VIGIL_JSON_TRY(ReadString(fv, "responseStatus.message", &rs->message, report));
    }
  }
  return SUCCESS;
}

error_code ReadAnnotations(value& v, AuditEvent* out, ParseReport* report) {
  object obj;
  bool is_obj = false;
  VIGIL_JSON_TRY(OpenObject(v, "annotations", &obj, &is_obj, report));
  if (!is_obj) return SUCCESS;
  bool dropped = false;
  for (auto field : obj) {
    std::string_view key;
    VIGIL_JSON_TRY(field.unescaped_key().get(key));
    value fv;
    VIGIL_JSON_TRY(field.value().get(fv));
    json_type t;
    VIGIL_JSON_TRY(TypeOf(fv, &t));
    if (t == json_type::string) {
      std::string_view s;
      VIGIL_JSON_TRY(fv.get_string().get(s));
      out->annotations.emplace_back(key, s);
    } else if (!dropped) {
      dropped = true;
      report->Drop("annotations");
    }
  }
  return SUCCESS;
}

error_code ReadTimestamp(value& v, std::string_view name, int64_t* out, bool* present,
                         ParseReport* report) {
  std::string_view s;
  VIGIL_JSON_TRY(ReadString(v, name, &s, report));
  if (s.empty()) return SUCCESS;
  if (auto us = ParseTimestampMicros(s)) {
    *out = *us;
    if (present) *present = true;
  } else {
    report->Drop(name);
  }
  return SUCCESS;
}

error_code ReadRaw(value& v, std::string_view* out) {
  json_type t;
  VIGIL_JSON_TRY(TypeOf(v, &t));
  if (t == json_type::null) return SUCCESS;
  return RawValue(v, out);
}

error_code ReadFields(object& obj, AuditEvent* out, ParseReport* report, TopLevelHints* hints) {
  for (auto field : obj) {
    std::string_view key;
    VIGIL_JSON_TRY(field.unescaped_key().get(key));
    value v;
    VIGIL_JSON_TRY(field.value().get(v));
    if (key.empty()) continue;
    // Dispatch on the first letter: most keys are decided by one or two comparisons.
    switch (key[0]) {
      case 'a':
        if (key == "auditID") {
          hints->has_audit_id_key = true;
          json_type t;
          VIGIL_JSON_TRY(TypeOf(v, &t));
          if (t == json_type::string) {
            VIGIL_JSON_TRY(v.get_string().get(out->audit_id));
          } else {
            hints->audit_id_not_string = true;
          }
        } else if (key == "apiVersion") {
          VIGIL_JSON_TRY(ReadString(v, "apiVersion", &out->api_version, report));
        } else if (key == "annotations") {
          VIGIL_JSON_TRY(ReadAnnotations(v, out, report));
        }
        break;
      case 'k':
        if (key == "kind") {
          hints->has_kind = true;
          json_type t;
          VIGIL_JSON_TRY(TypeOf(v, &t));
          if (t == json_type::string) {
            VIGIL_JSON_TRY(v.get_string().get(out->kind));
          } else {
            hints->kind_not_string = true;
          }
        }
        break;
      case 'l':
        if (key == "level") {
          std::string_view s;
          VIGIL_JSON_TRY(ReadString(v, "level", &s, report));
          out->level = ParseAuditLevel(s);
        } else if (key == "logEvents") {
          hints->keys |= TopLevelHints::kLogEvents;
        }
        break;
      case 's':
        if (key == "stage") {
          std::string_view s;
          VIGIL_JSON_TRY(ReadString(v, "stage", &s, report));
          out->stage = ParseAuditStage(s);
        } else if (key == "stageTimestamp") {
          VIGIL_JSON_TRY(ReadTimestamp(v, "stageTimestamp", &out->stage_us, nullptr, report));
        } else if (key == "sourceIPs") {
          VIGIL_JSON_TRY(ReadStringArray(v, "sourceIPs", &out->source_ips, report));
        }
        break;
      case 'r':
        if (key == "requestURI") {
          VIGIL_JSON_TRY(ReadString(v, "requestURI", &out->request_uri, report));
        } else if (key == "requestReceivedTimestamp") {
          VIGIL_JSON_TRY(ReadTimestamp(v, "requestReceivedTimestamp", &out->request_received_us,
                                       nullptr, report));
        } else if (key == "responseStatus") {
          VIGIL_JSON_TRY(ReadResponseStatus(v, &out->response_status, report));
        } else if (key == "requestObject") {
          VIGIL_JSON_TRY(ReadRaw(v, &out->request_object));
        } else if (key == "responseObject") {
          VIGIL_JSON_TRY(ReadRaw(v, &out->response_object));
        } else if (key == "records") {
          hints->keys |= TopLevelHints::kRecords;
        }
        break;
      case 'v':
        if (key == "verb") VIGIL_JSON_TRY(ReadString(v, "verb", &out->verb, report));
        break;
      case 'u':
        if (key == "user") {
          VIGIL_JSON_TRY(ReadUser(v, false, &out->user, report));
        } else if (key == "userAgent") {
          VIGIL_JSON_TRY(ReadString(v, "userAgent", &out->user_agent, report));
        }
        break;
      case 'i':
        if (key == "impersonatedUser") {
          VIGIL_JSON_TRY(ReadUser(v, true, &out->impersonated_user, report));
        } else if (key == "items") {
          hints->keys |= TopLevelHints::kItems;
        }
        break;
      case 'o':
        if (key == "objectRef") VIGIL_JSON_TRY(ReadObjectRef(v, &out->object_ref, report));
        break;
      case 't':
        if (key == "timestamp") {
          VIGIL_JSON_TRY(ReadTimestamp(v, "timestamp", &hints->legacy_timestamp_us,
                                       &hints->has_legacy_timestamp, report));
        }
        break;
      case 'p':
        if (key == "properties") {
          hints->keys |= TopLevelHints::kProperties;
        } else if (key == "protoPayload") {
          hints->keys |= TopLevelHints::kProtoPayload;
        }
        break;
      case 'm':
        if (key == "message") {
          hints->keys |= TopLevelHints::kMessage;
        } else if (key == "messageType") {
          json_type t;
          VIGIL_JSON_TRY(TypeOf(v, &t));
          if (t == json_type::string) VIGIL_JSON_TRY(v.get_string().get(hints->message_type));
        }
        break;
      default:
        break;
    }
  }
  return SUCCESS;
}

}  // namespace

Status ReadEventFields(simdjson::ondemand::object& obj, AuditEvent* out, ParseReport* report,
                       TopLevelHints* hints) {
  error_code err = ReadFields(obj, out, report, hints);
  if (err != SUCCESS) return JsonError(err);
  return Status::Ok();
}

Status ValidateEvent(AuditEvent* out, const TopLevelHints& hints) {
  if (hints.kind_not_string) return Status::InvalidArgument("kind is not a string");
  if (hints.has_kind && out->kind != "Event") {
    return Status::InvalidArgument("unknown kind \"" + std::string(out->kind.substr(0, 64)) +
                                   "\" (want Event)");
  }
  if (hints.audit_id_not_string) return Status::InvalidArgument("missing auditID (not a string)");
  if (out->audit_id.empty()) return Status::InvalidArgument("missing auditID");
  if (hints.has_legacy_timestamp) {
    // v1beta1 carries `timestamp`; it stands in for whichever of the two is absent.
    if (out->request_received_us == 0) out->request_received_us = hints.legacy_timestamp_us;
    if (out->stage_us == 0) out->stage_us = hints.legacy_timestamp_us;
  }
  if (out->request_received_us == 0 && out->stage_us == 0) {
    return Status::InvalidArgument(
        "no usable timestamp (requestReceivedTimestamp, stageTimestamp, timestamp)");
  }
  return Status::Ok();
}

namespace {

size_t CountOpensScalar(const char* data, size_t len) {
  size_t opens = 0;
  for (size_t i = 0; i < len; ++i) {
    opens += static_cast<size_t>(data[i] == '{') + static_cast<size_t>(data[i] == '[');
  }
  return opens;
}

#if defined(__x86_64__)
// The '{' and '[' of data[0, len), 32 (AVX2) or 16 (SSE2) bytes at a time: byte lanes count
// up to 255 matches, then are summed (SAD). Stops early (returning more than `limit`) once the
// count passes `limit`. This scan runs over every event, so it is worth the intrinsics: the
// compiler's own vectorisation of the scalar loop widens every byte to 64 bits.
__attribute__((target("avx2"))) size_t CountOpensAvx2(const char* data, size_t len, size_t limit) {
  const __m256i brace = _mm256_set1_epi8('{');
  const __m256i bracket = _mm256_set1_epi8('[');
  size_t opens = 0;
  size_t i = 0;
  while (i + 32 <= len && opens <= limit) {
    __m256i acc = _mm256_setzero_si256();
    for (int k = 0; k < 255 && i + 32 <= len; ++k, i += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i));
      acc = _mm256_sub_epi8(
          acc, _mm256_or_si256(_mm256_cmpeq_epi8(v, brace), _mm256_cmpeq_epi8(v, bracket)));
    }
    const __m256i sums = _mm256_sad_epu8(acc, _mm256_setzero_si256());
    opens += static_cast<size_t>(_mm256_extract_epi64(sums, 0) + _mm256_extract_epi64(sums, 1) +
                                 _mm256_extract_epi64(sums, 2) + _mm256_extract_epi64(sums, 3));
  }
  return opens + CountOpensScalar(data + i, len - i);
}

size_t CountOpensSse2(const char* data, size_t len, size_t limit) {
  const __m128i brace = _mm_set1_epi8('{');
  const __m128i bracket = _mm_set1_epi8('[');
  size_t opens = 0;
  size_t i = 0;
  while (i + 16 <= len && opens <= limit) {
    __m128i acc = _mm_setzero_si128();
    for (int k = 0; k < 255 && i + 16 <= len; ++k, i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
      acc = _mm_sub_epi8(acc, _mm_or_si128(_mm_cmpeq_epi8(v, brace), _mm_cmpeq_epi8(v, bracket)));
    }
    const __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
    opens += static_cast<size_t>(_mm_cvtsi128_si64(sums) +
                                 _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
  }
  return opens + CountOpensScalar(data + i, len - i);
}
#endif

}  // namespace

size_t CountOpens(const char* data, size_t len, size_t limit, CountImpl impl) {
#if defined(__x86_64__)
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  if (impl == CountImpl::kBest) impl = has_avx2 ? CountImpl::kAvx2 : CountImpl::kSse2;
  if (impl == CountImpl::kAvx2 && has_avx2) return CountOpensAvx2(data, len, limit);
  if (impl != CountImpl::kScalar) return CountOpensSse2(data, len, limit);
#else
  (void)limit;
  (void)impl;
#endif
  return CountOpensScalar(data, len);
}

Status CheckDepth(const char* data, size_t len, uint32_t max_depth) {
  // Fast path: the depth can never exceed the number of opening brackets.
  if (CountOpens(data, len, max_depth) <= max_depth) return Status::Ok();
  uint32_t depth = 0;
  const char* p = data;
  const char* end = data + len;
  while (p < end) {
    char c = *p;
    if (c == '"') {
      // Skip the string: find the next quote not escaped by an odd run of backslashes.
      const char* q = p + 1;
      for (;;) {
        q = static_cast<const char*>(std::memchr(q, '"', static_cast<size_t>(end - q)));
        if (q == nullptr) return Status::Ok();  // unterminated: the parser reports it
        const char* b = q;
        while (b > p + 1 && b[-1] == '\\') --b;
        if (((q - b) & 1) == 0) break;
        ++q;
      }
      p = q + 1;
      continue;
    }
    if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        return Status::InvalidArgument("JSON nesting deeper than the limit of " +
                                       std::to_string(max_depth));
      }
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
    ++p;
  }
  return Status::Ok();
}

simdjson::error_code RawValue(simdjson::ondemand::value& v, std::string_view* out) {
  json_type t;
  VIGIL_JSON_TRY(v.type().get(t));
  std::string_view raw;
  if (t == json_type::object) {
    object o;
    VIGIL_JSON_TRY(v.get_object().get(o));
    VIGIL_JSON_TRY(o.raw_json().get(raw));
  } else if (t == json_type::array) {
    simdjson::ondemand::array a;
    VIGIL_JSON_TRY(v.get_array().get(a));
    VIGIL_JSON_TRY(a.raw_json().get(raw));
  } else {
    raw = v.raw_json_token();
  }
  while (!raw.empty() &&
         (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t')) {
    raw.remove_suffix(1);
  }
  *out = raw;
  return SUCCESS;
}

Status JsonError(simdjson::error_code code) {
  return Status::InvalidArgument(std::string("invalid JSON: ") + simdjson::error_message(code));
}

Status SizeError(std::string_view what, size_t size, size_t limit) {
  return Status::InvalidArgument(std::string(what) + " of " + std::to_string(size) +
                                 " bytes exceeds the limit of " + std::to_string(limit) + " bytes");
}

}  // namespace vigil::ingest::internal
