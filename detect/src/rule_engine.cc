// RuleEngine: compiles a RuleSet into evaluator trees with pre-resolved field accessors and
// pre-parsed literals, indexes rules by (verb, resource), and evaluates audit events.
#include "vigil/detect/rule_engine.h"

#include <re2/re2.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "body_paths.h"
#include "engine_field.h"
#include "engine_match.h"
#include "json_body.h"
#include "literal_sets.h"
#include "vigil/core/state_store.h"
#include "vigil/core/time_util.h"

namespace vigil::detect {

using internal::ParsedField;
using internal::TopField;
using internal::Transform;

namespace {

constexpr size_t kMaxMessageBytes = 2048;
constexpr size_t kMaxValueBytes = 512;

// One value a field yields for an event.
struct Val {
  enum Type : uint8_t { kStr, kNum, kBool, kNull, kObj };
  Type type = kStr;
  bool is_time = false;
  bool b = false;
  bool has_elem = false;  // kObj from a JSON body (renderable with |json)
  double n = 0;
  int64_t t = 0;
  std::string_view s;
  simdjson::dom::element elem;
};

struct CLit {
  std::string text;
  std::string lower;
  bool has_num = false;
  double num = 0;
  int bool_val = -1;  // -1 none, 0 false, 1 true
  bool has_time = false;
  int64_t time = 0;
  std::unique_ptr<RE2> re;
  internal::Cidr cidr;
};

struct CField {
  ParsedField f;
  // Body paths: the memoised node of the leading key steps of f.json_steps and how many steps
  // it covers (-1: walk from the body root).
  int body_node = -1;
  size_t body_steps = 0;
};

struct CPred {
  CField field;
  Op op = Op::kEq;
  Quantifier quantifier = Quantifier::kAny;
  bool ci = false;
  std::vector<CLit> lits;
  // Many-literal fast paths (same results as testing lits one by one): string equality for
  // eq/in/!= (texts, or lower-case texts when ci), substrings for contains.
  std::unique_ptr<internal::StringSet> eq_set;
  std::unique_ptr<internal::SubstringSet> sub_set;
};

struct Node {
  Expr::Kind kind = Expr::Kind::kTrue;
  int pred = -1;
  // Structurally equal nodes (the same predicates combined the same way, as macros expand to)
  // share one id and so one per-event memoised result.
  int memo = -1;
  std::vector<Node> children;
};

struct Segment {
  std::string text;  // literal text, when field < 0
  int field = -1;    // index into CRule::out_fields
  int group = 0;     // kGroupOpen / kGroupClose: the bounds of an optional part {? ...}
};
constexpr int kGroupOpen = 1;
constexpr int kGroupClose = 2;

struct CRule {
  Node condition;
  std::vector<Node> exceptions;
  std::vector<Segment> output;
  std::vector<CField> out_fields;
  const char* absent = "<none>";  // printed for a field with no value ("<NA>" as Falco does)
};

// A compiled KeyExpr: a {field} template, or field paths tried in order.
struct KeyPart {
  bool is_template = false;
  CRule tmpl;                // output / out_fields, when a template
  std::vector<CField> alts;  // when field paths
};

// What the index points at: a single-event rule, a stateful rule's scope, or one sequence step.
struct CUnit {
  uint32_t rule = 0;
  uint32_t step = 0;
  bool stateful = false;
  std::vector<KeyPart> key;
  std::vector<KeyPart> value;
  std::vector<Node> include;
  bool has_learn = false;
  Node learn;
};

bool ParseNumber(std::string_view text, double* out) {
  if (text.empty()) return false;
  if (text.front() == '+') text.remove_prefix(1);
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && p == text.data() + text.size();
}

void AppendNumber(double n, std::string* out) {
  char buf[32];
  if (n >= -9e15 && n <= 9e15 && n == static_cast<double>(static_cast<int64_t>(n))) {
    auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(n));
    (void)ec;
    out->append(buf, p);
  } else {
    int len = std::snprintf(buf, sizeof(buf), "%.17g", n);
    if (len > 0) out->append(buf, static_cast<size_t>(len));
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = internal::AsciiLower(c);
  return out;
}

std::string_view RepositoryOf(std::string_view image) {
  size_t at = image.find('@');
  if (at != std::string_view::npos) image = image.substr(0, at);
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    image = image.substr(0, colon);
  }
  return image;
}

}  // namespace

struct RuleEngine::Compiled {
  EngineOptions options;
  std::vector<Rule> rules;
  std::vector<RuleInfo> infos;
  std::vector<CRule> crules;  // per unit
  std::vector<CUnit> units;
  std::vector<ExprPtr> unit_conditions;  // per unit, for the index
  std::vector<uint32_t> rule_unit;       // rule -> its first unit
  std::vector<CPred> preds;
  internal::BodyPathIndex body_paths;
  size_t node_ids = 0;  // distinct Node::memo values
  // Index: cell (verb, resource) -> candidate rules in load order. The last verb / resource
  // slot is "any other".
  std::vector<std::string> verbs;      // sorted
  std::vector<std::string> resources;  // sorted
  std::vector<std::vector<uint32_t>> cells;

  size_t VerbSlot(std::string_view v) const {
    auto it = std::lower_bound(verbs.begin(), verbs.end(), v,
                               [](const std::string& a, std::string_view b) { return a < b; });
    return (it != verbs.end() && *it == v) ? static_cast<size_t>(it - verbs.begin()) : verbs.size();
  }
  size_t ResourceSlot(std::string_view r) const {
    auto it = std::lower_bound(resources.begin(), resources.end(), r,
                               [](const std::string& a, std::string_view b) { return a < b; });
    return (it != resources.end() && *it == r) ? static_cast<size_t>(it - resources.begin())
                                               : resources.size();
  }
};

struct RuleEngine::Scratch {
  explicit Scratch(size_t max_body) : req_parser(max_body), resp_parser(max_body) {}
  JsonBodyParser req_parser;
  JsonBodyParser resp_parser;
  std::string key;
  std::string value;
  std::string xform;
  std::string qkey;
  std::string qval;
  std::string time;
  internal::BodyPathMemo body_memo;
  std::vector<uint32_t> node_memo;
  uint32_t generation = 0;
  uint64_t evaluated = 0;

  // Starts an event: forgets memoised body elements and node results.
  uint32_t NextEvent(const Compiled& c) {
    body_memo.Reset(c.body_paths.size());
    if (node_memo.size() != c.node_ids) node_memo.assign(c.node_ids, 0);
    if (++generation == (uint32_t{1} << 31)) {
      std::fill(node_memo.begin(), node_memo.end(), 0);
      generation = 1;
    }
    return generation;
  }
};

namespace {

struct Ctx {
  const AuditEvent& ev;
  LazyBody req;
  LazyBody resp;
  std::string* xform;
  std::string* qkey;
  std::string* qval;
  std::string* time;
  const internal::BodyPathIndex* body_paths;
  internal::BodyPathMemo* body_memo;
  // Per-event node results: entry Node::memo is generation << 1 | result.
  std::vector<uint32_t>* node_memo;
  uint32_t generation;
};

// ---- value extraction ------------------------------------------------------------------

Val StrVal(std::string_view s) {
  Val v;
  v.type = Val::kStr;
  v.s = s;
  return v;
}

Val ElemVal(simdjson::dom::element e) {
  Val v;
  switch (e.type()) {
    case simdjson::dom::element_type::STRING:
      v.type = Val::kStr;
      if (e.get_string().get(v.s) != simdjson::SUCCESS) v.type = Val::kNull;
      break;
    case simdjson::dom::element_type::INT64: {
      int64_t i = 0;
      if (e.get_int64().get(i) != simdjson::SUCCESS) v.type = Val::kNull;
      v.type = Val::kNum;
      v.n = static_cast<double>(i);
      break;
    }
    case simdjson::dom::element_type::UINT64: {
      uint64_t u = 0;
      if (e.get_uint64().get(u) != simdjson::SUCCESS) v.type = Val::kNull;
      v.type = Val::kNum;
      v.n = static_cast<double>(u);
      break;
    }
    case simdjson::dom::element_type::DOUBLE:
      v.type = Val::kNum;
      if (e.get_double().get(v.n) != simdjson::SUCCESS) v.type = Val::kNull;
      break;
    case simdjson::dom::element_type::BOOL:
      v.type = Val::kBool;
      if (e.get_bool().get(v.b) != simdjson::SUCCESS) v.type = Val::kNull;
      break;
    case simdjson::dom::element_type::NULL_VALUE:
      v.type = Val::kNull;
      break;
    default:
      v.type = Val::kObj;
      break;
  }
  v.elem = e;
  v.has_elem = true;
  return v;
}

// Walks `steps` from `e`; calls fn(Val) per value. A final array is flattened one level unless
// `keep_arrays` (|json). Returns false when fn asked to stop.
template <typename F>
bool Walk(simdjson::dom::element e, const std::vector<PathStep>& steps, size_t i, bool keep_arrays,
          F& fn) {
  if (i == steps.size()) {
    simdjson::dom::array arr;
    if (!keep_arrays && e.get_array().get(arr) == simdjson::SUCCESS) {
      for (simdjson::dom::element x : arr) {
        if (!fn(ElemVal(x))) return false;
      }
      return true;
    }
    return fn(ElemVal(e));
  }
  const PathStep& st = steps[i];
  switch (st.kind) {
    case PathStep::Kind::kKey: {
      simdjson::dom::object obj;
      simdjson::dom::element next;
      if (e.get_object().get(obj) != simdjson::SUCCESS) return true;
      if (obj.at_key(st.key).get(next) != simdjson::SUCCESS) return true;
      return Walk(next, steps, i + 1, keep_arrays, fn);
    }
    case PathStep::Kind::kIndex: {
      simdjson::dom::array arr;
      simdjson::dom::element next;
      if (e.get_array().get(arr) != simdjson::SUCCESS) return true;
      if (arr.at(st.index).get(next) != simdjson::SUCCESS) return true;
      return Walk(next, steps, i + 1, keep_arrays, fn);
    }
    case PathStep::Kind::kAnyIndex: {
      simdjson::dom::array arr;
      if (e.get_array().get(arr) != simdjson::SUCCESS) return true;
      for (simdjson::dom::element x : arr) {
        if (!Walk(x, steps, i + 1, keep_arrays, fn)) return false;
      }
      return true;
    }
  }
  return true;
}

template <typename F>
bool EmitList(const std::vector<std::string_view>& list, const ParsedField& f, F& fn) {
  if (f.has_index) return f.index < list.size() ? fn(StrVal(list[f.index])) : true;
  for (std::string_view s : list) {
    if (!fn(StrVal(s))) return false;
  }
  return true;
}

template <typename F>
bool EmitNonEmpty(std::string_view s, F& fn) {
  return s.empty() ? true : fn(StrVal(s));
}

void DecodeQueryInto(std::string_view text, std::string* out) {
  out->clear();
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%' && i + 2 < text.size() + 0 && hex(text[i + 1]) >= 0 &&
               hex(text[i + 2]) >= 0) {
      out->push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
}

template <typename F>
bool EmitQuery(Ctx& c, const ParsedField& f, F& fn) {
  std::string_view uri = c.ev.request_uri;
  size_t q = uri.find('?');
  if (q == std::string_view::npos) return true;
  std::string_view query = uri.substr(q + 1);
  size_t hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  size_t seen = 0;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    DecodeQueryInto(k, c.qkey);
    if (*c.qkey != f.key) continue;
    if (f.has_index && seen++ != f.index) continue;
    DecodeQueryInto(v, c.qval);
    if (!fn(StrVal(*c.qval))) return false;
    if (f.has_index) return true;
  }
  return true;
}

template <typename F>
bool EmitExtra(const UserInfo& u, const ParsedField& f, F& fn) {
  for (const UserInfo::Extra& x : u.extra) {
    if (x.key == f.key) return EmitList(x.values, f, fn);
  }
  return true;
}

template <typename F>
bool EmitTime(Ctx& c, int64_t us, F& fn) {
  if (us == 0) return true;
  *c.time = FormatTimestampMicros(us);
  Val v = StrVal(*c.time);
  v.is_time = true;
  v.t = us;
  return fn(v);
}

template <typename F>
bool EmitObject(bool present, F& fn) {
  if (!present) return true;
  Val v;
  v.type = Val::kObj;
  return fn(v);
}

// Calls fn(Val) for each raw value of the field (before the transform).
template <typename F>
bool VisitRaw(const CField& cf, Ctx& c, F& fn) {
  const ParsedField& f = cf.f;
  const AuditEvent& e = c.ev;
  switch (f.top) {
    case TopField::kUnknown:
      return true;
    case TopField::kApiVersion:
      return EmitNonEmpty(e.api_version, fn);
    case TopField::kKind:
      return EmitNonEmpty(e.kind, fn);
    case TopField::kLevel:
      return e.level == AuditLevel::kUnknown ? true : fn(StrVal(AuditLevelName(e.level)));
    case TopField::kAuditId:
      return EmitNonEmpty(e.audit_id, fn);
    case TopField::kStage:
      return e.stage == AuditStage::kUnknown ? true : fn(StrVal(AuditStageName(e.stage)));
    case TopField::kRequestUri:
      return EmitNonEmpty(e.request_uri, fn);
    case TopField::kUriPath:
      return EmitNonEmpty(e.request_uri.substr(0, e.request_uri.find('?')), fn);
    case TopField::kUriQuery:
      return EmitQuery(c, f, fn);
    case TopField::kVerb:
      return EmitNonEmpty(e.verb, fn);
    case TopField::kUserAgent:
      return EmitNonEmpty(e.user_agent, fn);
    case TopField::kCluster:
      return EmitNonEmpty(e.cluster, fn);
    case TopField::kSourceIps:
      return EmitList(e.source_ips, f, fn);
    case TopField::kUser:
      return EmitObject(e.user.present, fn);
    case TopField::kUserUsername:
      return EmitNonEmpty(e.user.username, fn);
    case TopField::kUserUid:
      return EmitNonEmpty(e.user.uid, fn);
    case TopField::kUserGroups:
      return EmitList(e.user.groups, f, fn);
    case TopField::kUserExtra:
      return EmitExtra(e.user, f, fn);
    case TopField::kImpUser:
      return EmitObject(e.impersonated_user.present, fn);
    case TopField::kImpUsername:
      return EmitNonEmpty(e.impersonated_user.username, fn);
    case TopField::kImpUid:
      return EmitNonEmpty(e.impersonated_user.uid, fn);
    case TopField::kImpGroups:
      return EmitList(e.impersonated_user.groups, f, fn);
    case TopField::kImpExtra:
      return EmitExtra(e.impersonated_user, f, fn);
    case TopField::kObjectRef:
      return EmitObject(e.object_ref.present, fn);
    case TopField::kObjResource:
      return EmitNonEmpty(e.object_ref.resource, fn);
    case TopField::kObjNamespace:
      return EmitNonEmpty(e.object_ref.namespace_, fn);
    case TopField::kObjName:
      return EmitNonEmpty(e.object_ref.name, fn);
    case TopField::kObjUid:
      return EmitNonEmpty(e.object_ref.uid, fn);
    case TopField::kObjApiGroup:
      return EmitNonEmpty(e.object_ref.api_group, fn);
    case TopField::kObjApiVersion:
      return EmitNonEmpty(e.object_ref.api_version, fn);
    case TopField::kObjResourceVersion:
      return EmitNonEmpty(e.object_ref.resource_version, fn);
    case TopField::kObjSubresource:
      return EmitNonEmpty(e.object_ref.subresource, fn);
    case TopField::kResponseStatus:
      return EmitObject(e.response_status.present, fn);
    case TopField::kRespCode: {
      if (!e.response_status.has_code) return true;
      Val v;
      v.type = Val::kNum;
      v.n = e.response_status.code;
      return fn(v);
    }
    case TopField::kRespStatus:
      return EmitNonEmpty(e.response_status.status, fn);
    case TopField::kRespReason:
      return EmitNonEmpty(e.response_status.reason, fn);
    case TopField::kRespMessage:
      return EmitNonEmpty(e.response_status.message, fn);
    case TopField::kAnnotations:
      return EmitObject(!e.annotations.empty(), fn);
    case TopField::kAnnotation:
      for (const auto& [k, v] : e.annotations) {
        if (k == f.key) return fn(StrVal(v));
      }
      return true;
    case TopField::kRequestReceivedTs:
      return EmitTime(c, e.request_received_us, fn);
    case TopField::kStageTs:
      return EmitTime(c, e.stage_us, fn);
    case TopField::kRawEvent:
      return EmitNonEmpty(e.raw, fn);
    case TopField::kRequestObject:
    case TopField::kResponseObject: {
      const simdjson::dom::element* from =
          cf.body_node >= 0 ? c.body_memo->Resolve(*c.body_paths, cf.body_node, &c.req, &c.resp)
                            : (f.top == TopField::kRequestObject ? c.req.Get() : c.resp.Get());
      if (from == nullptr) return true;
      return Walk(*from, f.json_steps, cf.body_steps, f.transform == Transform::kJson, fn);
    }
  }
  return true;
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      out->append(buf);
    } else {
      out->push_back(ch);
    }
  }
  out->push_back('"');
}

// Calls fn(Val) for each value of the field, transform applied.
template <typename F>
void Visit(const CField& f, Ctx& c, F&& fn) {
  switch (f.f.transform) {
    case Transform::kNone:
      VisitRaw(f, c, fn);
      return;
    case Transform::kCount: {
      size_t n = 0;
      auto counter = [&n](const Val&) {
        ++n;
        return true;
      };
      VisitRaw(f, c, counter);
      Val v;
      v.type = Val::kNum;
      v.n = static_cast<double>(n);
      fn(v);
      return;
    }
    case Transform::kLower: {
      auto lower = [&](const Val& v) {
        if (v.type != Val::kStr) return fn(v);
        c.xform->assign(v.s);
        for (char& ch : *c.xform) ch = internal::AsciiLower(ch);
        return fn(StrVal(*c.xform));
      };
      VisitRaw(f, c, lower);
      return;
    }
    case Transform::kUaFamily: {
      // "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625" -> "kubectl"
      auto family = [&](const Val& v) {
        if (v.type != Val::kStr) return true;
        std::string_view s = v.s.substr(0, v.s.find('/'));
        while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
        c.xform->assign(s);
        for (char& ch : *c.xform) ch = internal::AsciiLower(ch);
        return fn(StrVal(*c.xform));
      };
      VisitRaw(f, c, family);
      return;
    }
    case Transform::kRepository: {
      auto repo = [&](const Val& v) {
        if (v.type != Val::kStr) return true;
        return fn(StrVal(RepositoryOf(v.s)));
      };
      VisitRaw(f, c, repo);
      return;
    }
    case Transform::kUnixNano: {
      auto nanos = [&](const Val& v) {
        if (!v.is_time) return true;
        c.xform->assign(std::to_string(v.t));
        c.xform->append("000");
        return fn(StrVal(*c.xform));
      };
      VisitRaw(f, c, nanos);
      return;
    }
    case Transform::kTypeKeys: {
      auto keys = [&](const Val& v) {
        simdjson::dom::object obj;
        if (!v.has_elem || v.elem.get_object().get(obj) != simdjson::SUCCESS) return true;
        for (auto kv : obj) {
          if (kv.key != "name" && !fn(StrVal(kv.key))) return false;
        }
        return true;
      };
      VisitRaw(f, c, keys);
      return;
    }
    case Transform::kEffective: {
      // The container's securityContext.<arg>, else the pod's (requestObject.spec), else 0.
      auto effective = [&](const Val& v) {
        simdjson::dom::element x;
        if (v.has_elem && v.elem.at_pointer("/securityContext/" + f.f.transform_arg).get(x) ==
                              simdjson::SUCCESS) {
          return fn(ElemVal(x));
        }
        const simdjson::dom::element* req = c.req.Get();
        if (req != nullptr &&
            req->at_pointer("/spec/securityContext/" + f.f.transform_arg).get(x) ==
                simdjson::SUCCESS) {
          return fn(ElemVal(x));
        }
        Val zero;
        zero.type = Val::kNum;
        zero.n = 0;
        return fn(zero);
      };
      VisitRaw(f, c, effective);
      return;
    }
    case Transform::kSubject:
    case Transform::kSubjectNs: {
      const bool with_ns = f.f.transform == Transform::kSubjectNs;
      auto subject = [&](const Val& v) {
        std::string_view kind, name, ns;
        if (!v.has_elem || v.elem["kind"].get(kind) != simdjson::SUCCESS ||
            kind != f.f.transform_arg || v.elem["name"].get(name) != simdjson::SUCCESS) {
          return true;
        }
        if (!with_ns) return fn(StrVal(name));
        if (v.elem["namespace"].get(ns) != simdjson::SUCCESS || ns.empty()) return true;
        c.xform->assign(ns);
        c.xform->push_back(':');
        c.xform->append(name);
        return fn(StrVal(*c.xform));
      };
      VisitRaw(f, c, subject);
      return;
    }
    case Transform::kPathMatch: {
      // Over volume objects: is <arg> (a prefix when it ends in '*') a hostPath path?
      std::string_view want = f.f.transform_arg;
      const bool prefix = want.ends_with('*');
      if (prefix) want.remove_suffix(1);
      size_t volumes = 0;
      bool hit = false;
      auto match = [&](const Val& v) {
        ++volumes;
        std::string_view path;
        if (v.has_elem && v.elem.at_pointer("/hostPath/path").get(path) == simdjson::SUCCESS &&
            (prefix ? path.starts_with(want) : path == want)) {
          hit = true;
          return false;
        }
        return true;
      };
      VisitRaw(f, c, match);
      if (volumes > 0) fn(StrVal(hit ? "true" : "false"));
      return;
    }
    case Transform::kPodTarget: {
      if (c.ev.object_ref.resource != "pods" || !c.ev.object_ref.subresource.empty()) return;
      VisitRaw(f, c, fn);
      return;
    }
    case Transform::kJson: {
      auto json = [&](const Val& v) {
        std::string& out = *c.xform;
        out.clear();
        if (v.has_elem) {
          out = simdjson::minify(v.elem);
        } else if (v.type == Val::kStr) {
          AppendJsonString(v.s, &out);
        } else if (v.type == Val::kNum) {
          AppendNumber(v.n, &out);
        } else if (v.type == Val::kBool) {
          out = v.b ? "true" : "false";
        } else {
          return true;  // a top-level object (user, objectRef): not rendered
        }
        return fn(StrVal(out));
      };
      VisitRaw(f, c, json);
      return;
    }
  }
}

// ---- operators -----------------------------------------------------------------------------

bool EqLit(const Val& v, const CLit& l, bool ci) {
  switch (v.type) {
    case Val::kStr:
      if (v.is_time && l.has_time) return v.t == l.time;
      return ci ? internal::EqualsIgnoreCase(v.s, l.lower) : v.s == l.text;
    case Val::kNum:
      return l.has_num && v.n == l.num;
    case Val::kBool:
      return l.bool_val >= 0 && (l.bool_val == 1) == v.b;
    default:
      return false;
  }
}

int Compare3(double a, double b) { return a < b ? -1 : (a > b ? 1 : 0); }

bool OrderOk(Op op, int cmp) {
  switch (op) {
    case Op::kLt:
      return cmp < 0;
    case Op::kLe:
      return cmp <= 0;
    case Op::kGt:
      return cmp > 0;
    case Op::kGe:
      return cmp >= 0;
    default:
      return false;
  }
}

// Whether some literal of p equals the string value v (not a time), through p.eq_set. Returns
// nullopt when the set cannot answer (a case-insensitive value longer than the lowering buffer).
std::optional<bool> InEqSet(const CPred& p, std::string_view s) {
  if (!p.ci) return p.eq_set->Contains(s);
  char buf[256];
  if (s.size() > sizeof(buf)) return std::nullopt;
  for (size_t i = 0; i < s.size(); ++i) buf[i] = internal::AsciiLower(s[i]);
  return p.eq_set->Contains(std::string_view(buf, s.size()));
}

bool TestValue(const CPred& p, const Val& v) {
  if (p.eq_set != nullptr && v.type == Val::kStr && !v.is_time &&
      (p.op == Op::kEq || p.op == Op::kIn || p.op == Op::kNe)) {
    if (std::optional<bool> in = InEqSet(p, v.s)) return p.op == Op::kNe ? !*in : *in;
  }
  switch (p.op) {
    case Op::kExists:
      return true;
    case Op::kEq:
    case Op::kIn:
      for (const CLit& l : p.lits) {
        if (EqLit(v, l, p.ci)) return true;
      }
      return false;
    case Op::kNe:
      if (v.type != Val::kStr && v.type != Val::kNum && v.type != Val::kBool) return false;
      for (const CLit& l : p.lits) {
        if (EqLit(v, l, p.ci)) return false;
      }
      return true;
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      const CLit& l = p.lits[0];
      if (v.type == Val::kNum) return l.has_num && OrderOk(p.op, Compare3(v.n, l.num));
      if (v.type != Val::kStr) return false;
      if (v.is_time && l.has_time) return OrderOk(p.op, Compare3(v.t, l.time));
      int cmp = v.s.compare(l.text);
      return OrderOk(p.op, cmp < 0 ? -1 : (cmp > 0 ? 1 : 0));
    }
    default:
      break;
  }
  if (v.type != Val::kStr) return false;
  switch (p.op) {
    case Op::kContains:
    case Op::kIContains:
      if (p.sub_set != nullptr) return p.sub_set->FoundIn(v.s);
      for (const CLit& l : p.lits) {
        bool ci = p.ci || p.op == Op::kIContains;
        if (ci ? internal::ContainsIgnoreCase(v.s, l.lower)
               : v.s.find(l.text) != std::string_view::npos) {
          return true;
        }
      }
      return false;
    case Op::kStartsWith:
      for (const CLit& l : p.lits) {
        if (p.ci ? internal::StartsWithIgnoreCase(v.s, l.lower) : v.s.starts_with(l.text)) {
          return true;
        }
      }
      return false;
    case Op::kEndsWith:
      for (const CLit& l : p.lits) {
        if (p.ci ? internal::EndsWithIgnoreCase(v.s, l.lower) : v.s.ends_with(l.text)) {
          return true;
        }
      }
      return false;
    case Op::kGlob:
      for (const CLit& l : p.lits) {
        if (internal::GlobMatch(p.ci ? l.lower : l.text, v.s, p.ci)) return true;
      }
      return false;
    case Op::kRegex:
      for (const CLit& l : p.lits) {
        if (RE2::PartialMatch(re2::StringPiece(v.s.data(), v.s.size()), *l.re)) return true;
      }
      return false;
    case Op::kCidr:
    case Op::kPrivateIp:
    case Op::kPublicIp: {
      internal::IpAddr ip;
      if (!internal::ParseIp(v.s, &ip)) return false;
      if (p.op == Op::kPrivateIp) return internal::IsPrivateIp(ip);
      if (p.op == Op::kPublicIp) return internal::IsPublicIp(ip);
      for (const CLit& l : p.lits) {
        if (internal::CidrContains(l.cidr, ip)) return true;
      }
      return false;
    }
    default:
      return false;
  }
}

bool EvalPred(const CPred& p, Ctx& c) {
  if (p.quantifier == Quantifier::kAny) {
    bool found = false;
    Visit(p.field, c, [&](const Val& v) {
      if (TestValue(p, v)) {
        found = true;
        return false;
      }
      return true;
    });
    return found;
  }
  size_t n = 0;
  bool all = true;
  Visit(p.field, c, [&](const Val& v) {
    ++n;
    if (!TestValue(p, v)) {
      all = false;
      return false;
    }
    return true;
  });
  return n > 0 && all;
}

bool EvalNode(const Node& n, const std::vector<CPred>& preds, Ctx& c);

bool EvalNodeUncached(const Node& n, const std::vector<CPred>& preds, Ctx& c) {
  switch (n.kind) {
    case Expr::Kind::kTrue:
      return true;
    case Expr::Kind::kFalse:
      return false;
    case Expr::Kind::kPredicate:
      return EvalPred(preds[static_cast<size_t>(n.pred)], c);
    case Expr::Kind::kAnd:
      for (const Node& ch : n.children) {
        if (!EvalNode(ch, preds, c)) return false;
      }
      return true;
    case Expr::Kind::kOr:
      for (const Node& ch : n.children) {
        if (EvalNode(ch, preds, c)) return true;
      }
      return false;
    case Expr::Kind::kNot:
      return !n.children.empty() && !EvalNode(n.children[0], preds, c);
  }
  return false;
}

// Nodes are pure functions of the event: each distinct one is evaluated at most once per event.
bool EvalNode(const Node& n, const std::vector<CPred>& preds, Ctx& c) {
  uint32_t& stamp = (*c.node_memo)[static_cast<size_t>(n.memo)];
  if ((stamp >> 1) == c.generation) return (stamp & 1) != 0;
  const bool r = EvalNodeUncached(n, preds, c);
  stamp = c.generation << 1 | (r ? 1 : 0);
  return r;
}

// ---- rendering ---------------------------------------------------------------------------

void AppendBounded(std::string_view s, size_t limit, std::string* out) {
  if (s.size() > limit) {
    size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    out->append(s.substr(0, cut));
    out->append("...");
  } else {
    out->append(s);
  }
}

void AppendVal(const Val& v, std::string* out) {
  switch (v.type) {
    case Val::kStr:
      AppendBounded(v.s, kMaxValueBytes, out);
      break;
    case Val::kNum:
      AppendNumber(v.n, out);
      break;
    case Val::kBool:
      out->append(v.b ? "true" : "false");
      break;
    case Val::kNull:
      out->append("null");
      break;
    case Val::kObj:
      if (v.has_elem) {
        AppendBounded(simdjson::minify(v.elem), kMaxValueBytes, out);
      } else {
        out->append("{...}");
      }
      break;
  }
}

// Appends the field's values joined by ',' (r.absent when it has none), up to `limit` bytes;
// returns how many values it had.
size_t AppendField(const CRule& r, const CField& field, Ctx& c, size_t limit, std::string* out) {
  size_t n = 0;
  Visit(field, c, [&](const Val& v) {
    if (n++ > 0) out->push_back(',');
    AppendVal(v, out);
    return out->size() < limit;
  });
  if (n == 0) out->append(r.absent);
  return n;
}

std::string Render(const CRule& r, Ctx& c) {
  std::string out;
  // An optional part {? ...} is rendered aside and kept only when all its fields have values.
  size_t group_start = std::string::npos;
  bool group_complete = true;
  for (const Segment& seg : r.output) {
    if (out.size() >= kMaxMessageBytes) break;
    if (seg.group == kGroupOpen) {
      group_start = out.size();
      group_complete = true;
      continue;
    }
    if (seg.group == kGroupClose) {
      if (!group_complete) out.resize(group_start);
      group_start = std::string::npos;
      continue;
    }
    if (seg.field < 0) {
      out.append(seg.text);
      continue;
    }
    const size_t n =
        AppendField(r, r.out_fields[static_cast<size_t>(seg.field)], c, kMaxMessageBytes, &out);
    if (n == 0 && group_start != std::string::npos) group_complete = false;
  }
  if (out.size() > kMaxMessageBytes) {
    std::string bounded;
    AppendBounded(out, kMaxMessageBytes - 3, &bounded);
    out = std::move(bounded);
  }
  return out;
}

// ---- compilation -------------------------------------------------------------------------

std::string Where(const Rule& r) {
  return r.source.file + ":" + std::to_string(r.source.line) + ":" +
         std::to_string(r.source.column) + ": rule '" + r.id + "': ";
}

bool OpTakesValues(Op op) {
  return op != Op::kExists && op != Op::kPrivateIp && op != Op::kPublicIp;
}

Result<CPred> CompilePred(const Rule& rule, const Predicate& p) {
  CPred cp;
  auto field = internal::ParseField(p.field.path);
  if (!field.ok()) return Status::InvalidArgument(Where(rule) + field.status().message());
  cp.field.f = std::move(field).value();
  cp.op = p.op;
  cp.quantifier = p.quantifier;
  cp.ci = p.case_insensitive;
  // `in ()` is valid (a Falco list may be empty) and matches nothing.
  if (OpTakesValues(p.op) && p.op != Op::kIn && p.values.empty()) {
    return Status::InvalidArgument(Where(rule) + "operator '" + std::string(OpName(p.op)) +
                                   "' on '" + p.field.path + "' needs a value");
  }
  if (!OpTakesValues(p.op)) return cp;
  for (const Literal& lit : p.values) {
    CLit l;
    l.text = lit.text;
    l.lower = Lower(lit.text);
    l.has_num = ParseNumber(lit.text, &l.num);
    if (l.lower == "true") l.bool_val = 1;
    if (l.lower == "false") l.bool_val = 0;
    if (cp.field.f.spec.type == FieldType::kTimestamp) {
      if (auto t = ParseTimestampMicros(lit.text)) {
        l.has_time = true;
        l.time = *t;
      }
    }
    if (p.op == Op::kRegex) {
      RE2::Options opts;
      opts.set_log_errors(false);
      opts.set_case_sensitive(!p.case_insensitive);
      l.re = std::make_unique<RE2>(lit.text, opts);
      if (!l.re->ok()) {
        return Status::InvalidArgument(Where(rule) + "bad regex '" + lit.text + "' on '" +
                                       p.field.path + "': " + l.re->error());
      }
    }
    if (p.op == Op::kCidr && !internal::ParseCidr(lit.text, &l.cidr)) {
      return Status::InvalidArgument(Where(rule) + "bad CIDR '" + lit.text + "' on '" +
                                     p.field.path + "'");
    }
    cp.lits.push_back(std::move(l));
  }
  // Below this many literals, testing them one by one is as fast.
  constexpr size_t kMinSetLiterals = 4;
  if (cp.lits.size() >= kMinSetLiterals) {
    std::vector<std::string> texts;
    for (const CLit& l : cp.lits) texts.push_back(cp.ci ? l.lower : l.text);
    // Time literals compare as times, not text: leave timestamp fields on the literal loop.
    if ((p.op == Op::kEq || p.op == Op::kIn || p.op == Op::kNe) &&
        cp.field.f.spec.type != FieldType::kTimestamp) {
      cp.eq_set = std::make_unique<internal::StringSet>(std::move(texts));
    } else if (p.op == Op::kContains || p.op == Op::kIContains) {
      const bool ci = cp.ci || p.op == Op::kIContains;
      texts.clear();
      for (const CLit& l : cp.lits) texts.push_back(ci ? l.lower : l.text);
      cp.sub_set = std::make_unique<internal::SubstringSet>(std::move(texts), ci);
    }
  }
  return cp;
}

// Gives n and its descendants their memo ids (see Node::memo): the key of a node names its
// kind and its children's ids, so equal keys mean equal subtrees.
void AssignMemo(Node* n, std::map<std::string, int>* ids) {
  std::string key(1, static_cast<char>('a' + static_cast<int>(n->kind)));
  if (n->kind == Expr::Kind::kPredicate) key += std::to_string(n->pred);
  for (Node& ch : n->children) {
    AssignMemo(&ch, ids);
    key += ',';
    key += std::to_string(ch.memo);
  }
  n->memo = ids->try_emplace(std::move(key), static_cast<int>(ids->size())).first->second;
}

// Points a body field at the memoised node of its leading key steps.
void InternBodyPath(internal::BodyPathIndex* index, CField* f) {
  if (f->f.top != TopField::kRequestObject && f->f.top != TopField::kResponseObject) return;
  f->body_node =
      index->Intern(f->f.top == TopField::kResponseObject, f->f.json_steps, &f->body_steps);
}

// The identity of a compiled predicate: two predicates with the same key always give the same
// result for an event, so rules share one CPred (and its per-event memoised result).
std::string PredKey(const CPred& cp) {
  std::string key = cp.field.f.spec.canonical;
  key += '\0';
  key += std::to_string(static_cast<int>(cp.op)) + "," +
         std::to_string(static_cast<int>(cp.quantifier)) + "," + (cp.ci ? "1" : "0");
  for (const CLit& l : cp.lits) {
    key += '\0';
    key += std::to_string(l.text.size());
    key += ':';
    key += l.text;
  }
  return key;
}

Status CompileNode(const Rule& rule, const Expr* e, std::vector<CPred>* preds,
                   std::map<std::string, int>* pred_ids, Node* out) {
  if (e == nullptr) {
    out->kind = Expr::Kind::kTrue;
    return Status::Ok();
  }
  out->kind = e->kind;
  switch (e->kind) {
    case Expr::Kind::kPredicate: {
      ASSIGN_OR_RETURN(CPred cp, CompilePred(rule, e->predicate));
      auto [it, inserted] = pred_ids->try_emplace(PredKey(cp), static_cast<int>(preds->size()));
      if (inserted) preds->push_back(std::move(cp));
      out->pred = it->second;
      return Status::Ok();
    }
    case Expr::Kind::kNot:
      if (e->children.size() != 1) {
        return Status::InvalidArgument(Where(rule) + "'not' needs exactly one operand");
      }
      [[fallthrough]];
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr:
      out->children.resize(e->children.size());
      for (size_t i = 0; i < e->children.size(); ++i) {
        RETURN_IF_ERROR(
            CompileNode(rule, e->children[i].get(), preds, pred_ids, &out->children[i]));
      }
      return Status::Ok();
    case Expr::Kind::kTrue:
    case Expr::Kind::kFalse:
      return Status::Ok();
  }
  return Status::Ok();
}

Status CompileOutput(const Rule& rule, std::string_view tmpl, CRule* out) {
  if (rule.origin == RuleOrigin::kFalco) out->absent = "<NA>";
  std::string text;
  size_t i = 0;
  bool in_group = false;
  auto flush = [&] {
    if (!text.empty()) out->output.push_back({std::move(text), -1});
    text.clear();
  };
  while (i < tmpl.size()) {
    char ch = tmpl[i];
    if (ch == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
      text.push_back('{');
      i += 2;
      continue;
    }
    if (ch == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '?') {
      if (in_group) {
        return Status::InvalidArgument(Where(rule) + "output: an optional part '{?' inside " +
                                       "another at offset " + std::to_string(i));
      }
      flush();
      out->output.push_back({"", -1, kGroupOpen});
      in_group = true;
      i += 2;
      continue;
    }
    if (ch == '}' && in_group) {
      flush();
      out->output.push_back({"", -1, kGroupClose});
      in_group = false;
      ++i;
      continue;
    }
    if (ch != '{') {
      text.push_back(ch);
      ++i;
      continue;
    }
    size_t close = tmpl.find('}', i + 1);
    // A '}' inside a quoted key ({annotations["a}b"]}) is rare; keys with '}' are not supported.
    if (close == std::string_view::npos) {
      return Status::InvalidArgument(Where(rule) + "output: unterminated '{' at offset " +
                                     std::to_string(i));
    }
    std::string_view path = tmpl.substr(i + 1, close - i - 1);
    auto field = internal::ParseField(path);
    if (!field.ok()) {
      return Status::InvalidArgument(Where(rule) + "output: " + field.status().message());
    }
    if (!field->spec.known) {
      return Status::InvalidArgument(Where(rule) + "output: unknown field '{" + std::string(path) +
                                     "}'");
    }
    flush();
    out->output.push_back({"", static_cast<int>(out->out_fields.size())});
    out->out_fields.push_back({std::move(field).value()});
    i = close + 1;
  }
  if (in_group) {
    return Status::InvalidArgument(Where(rule) + "output: an optional part '{?' is not closed");
  }
  flush();
  return Status::Ok();
}

std::string EscapeBraces(std::string_view s) {
  std::string out;
  for (char c : s) {
    out.push_back(c);
    if (c == '{') out.push_back('{');
  }
  return out;
}

// The values `field` must take for the condition to hold (eq/in predicates required at the top
// of an AND, or an OR of such); nullopt = unconstrained.
std::optional<std::set<std::string>> Required(const Expr* e, std::string_view field) {
  if (e == nullptr) return std::nullopt;
  switch (e->kind) {
    case Expr::Kind::kFalse:
      return std::set<std::string>();
    case Expr::Kind::kPredicate: {
      const Predicate& p = e->predicate;
      if ((p.op != Op::kEq && p.op != Op::kIn) || p.case_insensitive) return std::nullopt;
      auto f = internal::ParseField(p.field.path);
      if (!f.ok() || f->spec.canonical != field) return std::nullopt;
      std::set<std::string> s;
      for (const Literal& l : p.values) s.insert(l.text);
      return s;
    }
    case Expr::Kind::kAnd: {
      std::optional<std::set<std::string>> acc;
      for (const ExprPtr& ch : e->children) {
        auto s = Required(ch.get(), field);
        if (!s) continue;
        if (!acc) {
          acc = std::move(s);
        } else {
          std::set<std::string> both;
          for (const std::string& x : *acc) {
            if (s->count(x)) both.insert(x);
          }
          acc = std::move(both);
        }
      }
      return acc;
    }
    case Expr::Kind::kOr: {
      std::set<std::string> all;
      for (const ExprPtr& ch : e->children) {
        auto s = Required(ch.get(), field);
        if (!s) return std::nullopt;
        all.insert(s->begin(), s->end());
      }
      return all;
    }
    default:
      return std::nullopt;
  }
}

Status CompileKeys(const Rule& rule, const std::vector<KeyExpr>& exprs, std::vector<KeyPart>* out) {
  for (const KeyExpr& e : exprs) {
    KeyPart part;
    if (e.text.find('{') != std::string::npos) {
      part.is_template = true;
      RETURN_IF_ERROR(CompileOutput(rule, e.text, &part.tmpl));
    } else {
      std::string_view rest = e.text;
      while (true) {
        size_t q = rest.find("??");
        auto field = internal::ParseField(rest.substr(0, q));
        if (!field.ok()) {
          return Status::InvalidArgument(Where(rule) + "key '" + e.text +
                                         "': " + field.status().message());
        }
        part.alts.push_back({std::move(field).value()});
        if (q == std::string_view::npos) break;
        rest.remove_prefix(q + 2);
      }
    }
    out->push_back(std::move(part));
  }
  return Status::Ok();
}

// A template so that it can fill RuleEngine::Compiled, a private member type.
template <typename C>
void BuildIndexImpl(C* c) {
  const size_t n = c->units.size();
  std::vector<std::optional<std::set<std::string>>> rv(n), rr(n);
  std::set<std::string> verbs, resources;
  for (size_t i = 0; i < n; ++i) {
    rv[i] = Required(c->unit_conditions[i].get(), "verb");
    rr[i] = Required(c->unit_conditions[i].get(), "objectRef.resource");
    if (rv[i]) verbs.insert(rv[i]->begin(), rv[i]->end());
    if (rr[i]) resources.insert(rr[i]->begin(), rr[i]->end());
  }
  c->verbs.assign(verbs.begin(), verbs.end());
  c->resources.assign(resources.begin(), resources.end());
  const size_t nv = c->verbs.size() + 1, nr = c->resources.size() + 1;
  c->cells.assign(nv * nr, {});
  for (size_t vi = 0; vi < nv; ++vi) {
    for (size_t ri = 0; ri < nr; ++ri) {
      auto& cell = c->cells[vi * nr + ri];
      for (size_t i = 0; i < n; ++i) {
        bool v_ok = !rv[i] || (vi < c->verbs.size() && rv[i]->count(c->verbs[vi]));
        bool r_ok = !rr[i] || (ri < c->resources.size() && rr[i]->count(c->resources[ri]));
        if (v_ok && r_ok) cell.push_back(static_cast<uint32_t>(i));
      }
    }
  }
}
}  // namespace

Result<std::unique_ptr<RuleEngine>> RuleEngine::Compile(const RuleSet& rules,
                                                        const EngineOptions& options) {
  auto c = std::make_shared<Compiled>();
  c->options = options;
  std::set<std::string> ids;
  std::map<std::string, int> pred_ids;
  for (const Rule& r : rules.rules) {
    if (r.id.empty()) return Status::InvalidArgument(Where(r) + "rule has no id");
    if (!ids.insert(r.id).second) {
      return Status::InvalidArgument(Where(r) + "duplicate rule id");
    }
  }
  for (const Rule& r : rules.rules) {
    if (!r.enabled) continue;
    const auto rule_index = static_cast<uint32_t>(c->rules.size());
    std::string tmpl = r.output;
    if (tmpl.empty()) {
      tmpl = EscapeBraces(r.name.empty() ? r.id : r.name) +
             ": {user.username} {verb} {objectRef.resource}{? {objectRef.name}}"
             "{? in {objectRef.namespace}} on cluster {cluster}";
    }
    // One unit per rule, or per step of a sequence (the step's condition ANDed with the rule's).
    std::vector<std::pair<ExprPtr, const SequenceStep*>> unit_exprs;
    const StatefulSpec* st = r.stateful.get();
    std::vector<uint32_t> step_of;
    if (st != nullptr && st->kind == StatefulSpec::Kind::kSequence) {
      // Last step first: an event that matches two steps must advance an earlier partial match
      // before it starts a new one, so it never completes a sequence on its own.
      for (size_t k = st->steps.size(); k-- > 0;) {
        const SequenceStep& step = st->steps[k];
        unit_exprs.emplace_back(
            Expr::And({r.condition ? r.condition : Expr::True(), step.condition}), &step);
        step_of.push_back(static_cast<uint32_t>(k));
      }
    } else {
      unit_exprs.emplace_back(r.condition, nullptr);
      step_of.push_back(0);
    }
    // Matches() evaluates the first step (or the only unit).
    c->rule_unit.push_back(static_cast<uint32_t>(c->units.size() + unit_exprs.size() - 1));
    for (size_t k = 0; k < unit_exprs.size(); ++k) {
      CRule cr;
      RETURN_IF_ERROR(
          CompileNode(r, unit_exprs[k].first.get(), &c->preds, &pred_ids, &cr.condition));
      for (const ExprPtr& ex : r.exceptions) {
        cr.exceptions.emplace_back();
        RETURN_IF_ERROR(CompileNode(r, ex.get(), &c->preds, &pred_ids, &cr.exceptions.back()));
      }
      RETURN_IF_ERROR(CompileOutput(r, tmpl, &cr));
      CUnit unit;
      unit.rule = rule_index;
      unit.step = step_of[k];
      if (st != nullptr) {
        unit.stateful = true;
        const SequenceStep* step = unit_exprs[k].second;
        const auto& key = (step != nullptr && !step->by.empty()) ? step->by : st->group_by;
        RETURN_IF_ERROR(CompileKeys(r, key, &unit.key));
        RETURN_IF_ERROR(CompileKeys(
            r, st->kind == StatefulSpec::Kind::kDistinct ? st->field : st->terms, &unit.value));
        for (const ExprPtr& inc : st->must_include) {
          unit.include.emplace_back();
          RETURN_IF_ERROR(CompileNode(r, inc.get(), &c->preds, &pred_ids, &unit.include.back()));
        }
        if (st->learn_from) {
          unit.has_learn = true;
          RETURN_IF_ERROR(CompileNode(r, st->learn_from.get(), &c->preds, &pred_ids, &unit.learn));
        }
      }
      c->crules.push_back(std::move(cr));
      c->units.push_back(std::move(unit));
      c->unit_conditions.push_back(unit_exprs[k].first);
    }
    c->rules.push_back(r);
    RuleInfo info;
    info.id = r.id;
    info.name = r.name;
    info.severity = r.severity;
    info.attack_ids = r.attack_ids;
    info.description = r.description;
    c->infos.push_back(std::move(info));
  }
  std::map<std::string, int> node_ids;
  for (CRule& r : c->crules) {
    AssignMemo(&r.condition, &node_ids);
    for (Node& ex : r.exceptions) AssignMemo(&ex, &node_ids);
  }
  for (CUnit& u : c->units) {
    for (Node& n : u.include) AssignMemo(&n, &node_ids);
    if (u.has_learn) AssignMemo(&u.learn, &node_ids);
  }
  c->node_ids = node_ids.size();
  for (CPred& p : c->preds) InternBodyPath(&c->body_paths, &p.field);
  for (CRule& r : c->crules) {
    for (CField& f : r.out_fields) InternBodyPath(&c->body_paths, &f);
  }
  for (CUnit& u : c->units) {
    for (auto* parts : {&u.key, &u.value}) {
      for (KeyPart& part : *parts) {
        for (CField& f : part.alts) InternBodyPath(&c->body_paths, &f);
        for (CField& f : part.tmpl.out_fields) InternBodyPath(&c->body_paths, &f);
      }
    }
  }
  BuildIndexImpl(c.get());
  return std::unique_ptr<RuleEngine>(new RuleEngine(std::move(c)));
}

RuleEngine::RuleEngine(std::shared_ptr<const Compiled> compiled)
    : compiled_(std::move(compiled)),
      scratch_(std::make_unique<Scratch>(compiled_->options.max_body_bytes)) {}

RuleEngine::~RuleEngine() = default;

std::unique_ptr<RuleEngine> RuleEngine::Clone() const {
  return std::unique_ptr<RuleEngine>(new RuleEngine(compiled_));
}

const std::vector<RuleInfo>& RuleEngine::rules() const { return compiled_->infos; }
const std::vector<Rule>& RuleEngine::rule_defs() const { return compiled_->rules; }
uint64_t RuleEngine::evaluated_rule_count() const { return scratch_->evaluated; }

namespace {

bool RuleFires(const CRule& r, const std::vector<CPred>& preds, Ctx& c) {
  if (!EvalNode(r.condition, preds, c)) return false;
  for (const Node& ex : r.exceptions) {
    if (EvalNode(ex, preds, c)) return false;
  }
  return true;
}

Finding MakeEventFinding(const Rule& rule, const CRule& cr, Ctx& c) {
  const AuditEvent& e = c.ev;
  Finding f;
  std::string key(e.audit_id);
  if (key.empty()) {
    key = "no-audit-id|" + std::to_string(e.EventTimeMicros()) + "|" +
          std::string(e.user.username) + "|" + std::string(e.request_uri);
  }
  f.id = MakeFindingId(rule.id, e.cluster, key);
  f.rule_id = rule.id;
  f.rule_name = rule.name;
  f.severity = rule.severity;
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
  f.object.name = e.object_ref.name;
  if (f.object.name.empty()) {
    // A create names its object only in the body.
    if (const simdjson::dom::element* root = c.req.Get()) {
      std::string_view name;
      if ((*root)["metadata"]["name"].get_string().get(name) == simdjson::SUCCESS) {
        f.object.name = std::string(name.substr(0, 253));
      }
    }
  }
  f.object.subresource = e.object_ref.subresource;
  f.first_seen_us = e.EventTimeMicros();
  f.last_seen_us = f.first_seen_us;
  f.count = 1;
  if (!e.audit_id.empty()) f.evidence.emplace_back(e.audit_id);
  f.message = Render(cr, c);
  f.tags = rule.tags;
  // The output's fields by name (Falco's output_fields), each once, in template order.
  for (const CField& field : cr.out_fields) {
    const std::string& path = field.f.spec.canonical;
    std::string name = path;
    for (const auto& [p, n] : rule.output_names) {
      if (p == path) name = n;
    }
    if (std::any_of(f.fields.begin(), f.fields.end(),
                    [&](const auto& kv) { return kv.first == name; })) {
      continue;
    }
    std::string value;
    const size_t n = AppendField(cr, field, c, kMaxValueBytes, &value);
    if (n == 0 && rule.origin != RuleOrigin::kFalco) value.clear();  // Falco prints <NA>
    if (value.size() > kMaxValueBytes) {
      std::string bounded;
      AppendBounded(value, kMaxValueBytes, &bounded);
      value = std::move(bounded);
    }
    f.fields.emplace_back(std::move(name), std::move(value));
  }
  f.status = FindingStatus::kOpen;
  return f;
}

}  // namespace

namespace {

constexpr size_t kMaxKeyPartBytes = 512;

// Renders key parts, joined by kKeySep; a part never contains kKeySep and is bounded.
void RenderKey(const std::vector<KeyPart>& parts, Ctx& c, std::string* out) {
  out->clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out->push_back(kKeySep);
    const size_t start = out->size();
    const KeyPart& p = parts[i];
    if (p.is_template) {
      out->append(Render(p.tmpl, c));
    } else {
      for (const CField& f : p.alts) {
        size_t n = 0;
        Visit(f, c, [&](const Val& v) {
          if (n++ > 0) out->push_back(',');
          AppendVal(v, out);
          return out->size() - start < kMaxKeyPartBytes;
        });
        if (n > 0) break;
      }
    }
    size_t w = start;
    for (size_t r = start; r < out->size() && w - start < kMaxKeyPartBytes; ++r) {
      if ((*out)[r] != kKeySep) (*out)[w++] = (*out)[r];
    }
    out->resize(w);
  }
}

// The evaluation context of one event, over an engine's compiled rules and scratch buffers.
template <typename CompiledT, typename ScratchT>
Ctx NewCtx(const AuditEvent& event, const CompiledT& c, ScratchT& s) {
  return Ctx{event,
             LazyBody(&s.req_parser, event.request_object),
             LazyBody(&s.resp_parser, event.response_object),
             &s.xform,
             &s.qkey,
             &s.qval,
             &s.time,
             &c.body_paths,
             &s.body_memo,
             &s.node_memo,
             s.NextEvent(c)};
}

class EventFindingMaker final : public FindingMaker {
 public:
  EventFindingMaker(const Rule& rule, const CRule& cr, Ctx& ctx)
      : rule_(rule), cr_(cr), ctx_(ctx) {}
  Finding Make() const override { return MakeEventFinding(rule_, cr_, ctx_); }

 private:
  const Rule& rule_;
  const CRule& cr_;
  Ctx& ctx_;
};

}  // namespace

std::unique_ptr<RuleEngine> Detector::NewWorkerEngine() { return nullptr; }

void RuleEngine::Evaluate(const AuditEvent& event, std::vector<Finding>* out) {
  Evaluate(event, out, nullptr);
}

void RuleEngine::Evaluate(const AuditEvent& event, std::vector<Finding>* out, HitSink* sink) {
  const Compiled& c = *compiled_;
  Scratch& s = *scratch_;
  Ctx ctx = NewCtx(event, c, s);
  const size_t nr = c.resources.size() + 1;
  const auto& cell =
      c.cells[c.VerbSlot(event.verb) * nr + c.ResourceSlot(event.object_ref.resource)];
  for (uint32_t u : cell) {
    const CUnit& unit = c.units[u];
    if (unit.stateful && sink == nullptr) continue;
    ++s.evaluated;
    if (!RuleFires(c.crules[u], c.preds, ctx)) continue;
    const Rule& rule = c.rules[unit.rule];
    if (!unit.stateful) {
      out->push_back(MakeEventFinding(rule, c.crules[u], ctx));
      continue;
    }
    StatefulHit hit;
    hit.rule = unit.rule;
    hit.step = unit.step;
    hit.unit = u;
    RenderKey(unit.key, ctx, &s.key);
    RenderKey(unit.value, ctx, &s.value);
    hit.key = s.key;
    hit.value = s.value;
    for (size_t i = 0; i < unit.include.size(); ++i) {
      if (EvalNode(unit.include[i], c.preds, ctx)) hit.include_mask |= 1u << i;
    }
    hit.learnable = !unit.has_learn || EvalNode(unit.learn, c.preds, ctx);
    EventFindingMaker maker(rule, c.crules[u], ctx);
    sink->OnHit(hit, maker);
  }
}

Finding RuleEngine::MakeFinding(uint32_t unit, const AuditEvent& event) {
  const Compiled& c = *compiled_;
  Scratch& s = *scratch_;
  Ctx ctx = NewCtx(event, c, s);
  return MakeEventFinding(c.rules[c.units[unit].rule], c.crules[unit], ctx);
}

bool RuleEngine::Matches(size_t index, const AuditEvent& event) {
  const Compiled& c = *compiled_;
  if (index >= c.rule_unit.size()) return false;
  Scratch& s = *scratch_;
  Ctx ctx = NewCtx(event, c, s);
  return RuleFires(c.crules[c.rule_unit[index]], c.preds, ctx);
}

}  // namespace vigil::detect
