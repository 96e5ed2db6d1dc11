// Field schema: parses canonical field paths (keys, ["quoted keys"], [N], [*], |transform) and
// classifies them against the members of a raw audit event.
#include "vigil/detect/fields.h"

#include <charconv>
#include <string>
#include <string_view>
#include <utility>

#include "engine_field.h"

namespace vigil::detect {
namespace internal {
namespace {

bool IsBareKeyChar(char c) {
  return c != '.' && c != '[' && c != ']' && c != '|' && c != '"' && c != '\'' && c != ' ' &&
         c != '\t' && c != '\n' && c != '\r' && c != '{' && c != '}';
}

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

Status Broken(std::string_view path, std::string_view why) {
  return Status::InvalidArgument("bad field path '" + std::string(path) + "': " + std::string(why));
}

void AppendCanonicalKey(std::string_view key, std::string* out) {
  bool bare = !key.empty();
  for (char c : key) {
    if (!IsBareKeyChar(c) || c == '/' || c == ':') bare = false;
  }
  if (bare) {
    out->push_back('.');
    out->append(key);
    return;
  }
  out->append("[\"");
  for (char c : key) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->append("\"]");
}

// Parses the step list (no transform). steps[0] is the top-level name.
Status ParseSteps(std::string_view full, std::string_view path, std::vector<PathStep>* steps) {
  size_t i = 0;
  if (path.empty()) return Broken(full, "empty path");
  if (!IsIdentStart(path[0])) return Broken(full, "must start with a field name");
  while (i < path.size() && IsBareKeyChar(path[i])) ++i;
  steps->push_back({PathStep::Kind::kKey, std::string(path.substr(0, i)), 0});
  while (i < path.size()) {
    char c = path[i];
    if (c == '.') {
      size_t start = ++i;
      while (i < path.size() && IsBareKeyChar(path[i])) ++i;
      if (i == start) return Broken(full, "empty key after '.'");
      steps->push_back({PathStep::Kind::kKey, std::string(path.substr(start, i - start)), 0});
    } else if (c == '[') {
      ++i;
      if (i >= path.size()) return Broken(full, "unterminated '['");
      if (path[i] == '*') {
        ++i;
        if (i >= path.size() || path[i] != ']') return Broken(full, "expected ']' after '[*'");
        ++i;
        steps->push_back({PathStep::Kind::kAnyIndex, "", 0});
      } else if (path[i] >= '0' && path[i] <= '9') {
        size_t start = i;
        while (i < path.size() && path[i] >= '0' && path[i] <= '9') ++i;
        size_t n = 0;
        auto [p, ec] = std::from_chars(path.data() + start, path.data() + i, n);
        if (ec != std::errc()) return Broken(full, "bad index");
        (void)p;
        if (i >= path.size() || path[i] != ']') return Broken(full, "expected ']' after index");
        ++i;
        steps->push_back({PathStep::Kind::kIndex, "", n});
      } else if (path[i] == '"' || path[i] == '\'') {
        char quote = path[i++];
        std::string key;
        bool closed = false;
        while (i < path.size()) {
          char k = path[i++];
          if (k == '\\' && i < path.size()) {
            key.push_back(path[i++]);
          } else if (k == quote) {
            closed = true;
            break;
          } else {
            key.push_back(k);
          }
        }
        if (!closed) return Broken(full, "unterminated quoted key");
        if (i >= path.size() || path[i] != ']') return Broken(full, "expected ']' after key");
        ++i;
        steps->push_back({PathStep::Kind::kKey, std::move(key), 0});
      } else {
        return Broken(full, "expected *, a number or a quoted key after '['");
      }
    } else {
      return Broken(full, std::string("unexpected character '") + c + "'");
    }
  }
  return Status::Ok();
}

bool IsKey(const PathStep& s, std::string_view k) {
  return s.kind == PathStep::Kind::kKey && s.key == k;
}

// Classifies a list-valued member: `rest` steps after the member are empty, [*] or [N].
bool ListSelector(const std::vector<PathStep>& steps, size_t at, ParsedField* f) {
  f->spec.multi = true;
  if (steps.size() == at) return true;
  if (steps.size() != at + 1) return false;
  if (steps[at].kind == PathStep::Kind::kAnyIndex) return true;
  if (steps[at].kind == PathStep::Kind::kIndex) {
    f->has_index = true;
    f->index = steps[at].index;
    f->spec.multi = false;
    return true;
  }
  return false;
}

void Classify(ParsedField* f) {
  const std::vector<PathStep>& s = f->spec.steps;
  const std::string& top = s[0].key;
  const size_t n = s.size();
  FieldSpec& spec = f->spec;
  spec.type = FieldType::kString;
  spec.multi = false;
  auto single = [&](TopField t) {
    if (n == 1) f->top = t;
  };
  if (top == "verb") return single(TopField::kVerb);
  if (top == "stage") return single(TopField::kStage);
  if (top == "level") return single(TopField::kLevel);
  if (top == "auditID") return single(TopField::kAuditId);
  if (top == "userAgent") return single(TopField::kUserAgent);
  if (top == "cluster") return single(TopField::kCluster);
  if (top == "event") return single(TopField::kRawEvent);
  if (top == "apiVersion") return single(TopField::kApiVersion);
  if (top == "kind") return single(TopField::kKind);
  if (top == "requestReceivedTimestamp" || top == "stageTimestamp") {
    spec.type = FieldType::kTimestamp;
    return single(top == "stageTimestamp" ? TopField::kStageTs : TopField::kRequestReceivedTs);
  }
  if (top == "requestURI") {
    if (n == 1) {
      f->top = TopField::kRequestUri;
    } else if (n == 2 && IsKey(s[1], "path")) {
      f->top = TopField::kUriPath;
    } else if (n >= 3 && IsKey(s[1], "query") && s[2].kind == PathStep::Kind::kKey) {
      f->key = s[2].key;
      if (ListSelector(s, 3, f)) f->top = TopField::kUriQuery;
    }
    return;
  }
  if (top == "sourceIPs") {
    if (ListSelector(s, 1, f)) f->top = TopField::kSourceIps;
    return;
  }
  if (top == "user" || top == "impersonatedUser") {
    const bool imp = top == "impersonatedUser";
    if (n == 1) {
      spec.type = FieldType::kJson;
      f->top = imp ? TopField::kImpUser : TopField::kUser;
    } else if (n == 2 && IsKey(s[1], "username")) {
      f->top = imp ? TopField::kImpUsername : TopField::kUserUsername;
    } else if (n == 2 && IsKey(s[1], "uid")) {
      f->top = imp ? TopField::kImpUid : TopField::kUserUid;
    } else if (n >= 2 && IsKey(s[1], "groups")) {
      if (ListSelector(s, 2, f)) f->top = imp ? TopField::kImpGroups : TopField::kUserGroups;
    } else if (n >= 3 && IsKey(s[1], "extra") && s[2].kind == PathStep::Kind::kKey) {
      f->key = s[2].key;
      if (ListSelector(s, 3, f)) f->top = imp ? TopField::kImpExtra : TopField::kUserExtra;
    }
    return;
  }
  if (top == "objectRef") {
    if (n == 1) {
      spec.type = FieldType::kJson;
      f->top = TopField::kObjectRef;
      return;
    }
    if (n != 2 || s[1].kind != PathStep::Kind::kKey) return;
    const std::string& k = s[1].key;
    if (k == "resource") f->top = TopField::kObjResource;
    if (k == "namespace") f->top = TopField::kObjNamespace;
    if (k == "name") f->top = TopField::kObjName;
    if (k == "uid") f->top = TopField::kObjUid;
    if (k == "apiGroup") f->top = TopField::kObjApiGroup;
    if (k == "apiVersion") f->top = TopField::kObjApiVersion;
    if (k == "resourceVersion") f->top = TopField::kObjResourceVersion;
    if (k == "subresource") f->top = TopField::kObjSubresource;
    return;
  }
  if (top == "responseStatus") {
    if (n == 1) {
      spec.type = FieldType::kJson;
      f->top = TopField::kResponseStatus;
      return;
    }
    if (n != 2 || s[1].kind != PathStep::Kind::kKey) return;
    const std::string& k = s[1].key;
    if (k == "code") {
      spec.type = FieldType::kNumber;
      f->top = TopField::kRespCode;
    }
    if (k == "status") f->top = TopField::kRespStatus;
    if (k == "reason") f->top = TopField::kRespReason;
    if (k == "message") f->top = TopField::kRespMessage;
    return;
  }
  if (top == "annotations") {
    if (n == 1) {
      spec.type = FieldType::kJson;
      f->top = TopField::kAnnotations;
    } else if (n == 2 && s[1].kind == PathStep::Kind::kKey) {
      f->key = s[1].key;
      f->top = TopField::kAnnotation;
    }
    return;
  }
  if (top == "requestObject" || top == "responseObject") {
    f->top = top == "requestObject" ? TopField::kRequestObject : TopField::kResponseObject;
    spec.type = FieldType::kJson;
    f->json_steps.assign(s.begin() + 1, s.end());
    for (const PathStep& st : f->json_steps) {
      if (st.kind == PathStep::Kind::kAnyIndex) spec.multi = true;
    }
    return;
  }
}

}  // namespace

std::string_view TransformName(Transform t) {
  switch (t) {
    case Transform::kNone:
      return "";
    case Transform::kRepository:
      return "repository";
    case Transform::kJson:
      return "json";
    case Transform::kLower:
      return "lower";
    case Transform::kCount:
      return "count";
    case Transform::kUaFamily:
      return "uafamily";
    case Transform::kUnixNano:
      return "unixnano";
    case Transform::kTypeKeys:
      return "typekeys";
    case Transform::kEffective:
      return "effective";
    case Transform::kSubject:
      return "subject";
    case Transform::kSubjectNs:
      return "subjectns";
    case Transform::kPathMatch:
      return "pathmatch";
    case Transform::kPodTarget:
      return "podtarget";
  }
  return "";
}

Result<ParsedField> ParseField(std::string_view path) {
  const std::string_view full = path;
  while (!path.empty() && (path.front() == ' ' || path.front() == '\t')) path.remove_prefix(1);
  while (!path.empty() && (path.back() == ' ' || path.back() == '\t')) path.remove_suffix(1);
  ParsedField f;
  // The transform: the first '|' outside a quoted key.
  size_t bar = std::string_view::npos;
  char quote = 0;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (quote) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '|') {
      bar = i;
      break;
    }
  }
  if (bar != std::string_view::npos) {
    std::string_view t = path.substr(bar + 1);
    std::string_view arg;
    bool has_arg = false;
    if (size_t colon = t.find(':'); colon != std::string_view::npos) {
      arg = t.substr(colon + 1);
      t = t.substr(0, colon);
      has_arg = true;
    }
    const bool wants_arg =
        t == "effective" || t == "subject" || t == "subjectns" || t == "pathmatch";
    if (wants_arg && (!has_arg || arg.empty())) {
      return Broken(full, "transform '|" + std::string(t) + "' needs an argument: |" +
                              std::string(t) + ":ARG");
    }
    if (!wants_arg && has_arg) {
      return Broken(full, "transform '|" + std::string(t) + "' takes no argument");
    }
    f.transform_arg = std::string(arg);
    if (t == "repository") {
      f.transform = Transform::kRepository;
    } else if (t == "json") {
      f.transform = Transform::kJson;
    } else if (t == "lower") {
      f.transform = Transform::kLower;
    } else if (t == "count") {
      f.transform = Transform::kCount;
    } else if (t == "uafamily") {
      f.transform = Transform::kUaFamily;
    } else if (t == "unixnano") {
      f.transform = Transform::kUnixNano;
    } else if (t == "typekeys") {
      f.transform = Transform::kTypeKeys;
    } else if (t == "effective") {
      f.transform = Transform::kEffective;
    } else if (t == "subject") {
      f.transform = Transform::kSubject;
    } else if (t == "subjectns") {
      f.transform = Transform::kSubjectNs;
    } else if (t == "pathmatch") {
      f.transform = Transform::kPathMatch;
    } else if (t == "podtarget") {
      f.transform = Transform::kPodTarget;
    } else {
      return Broken(full, "unknown transform '|" + std::string(t) +
                              "' (known: repository, json, lower, count, uafamily, unixnano, "
                              "typekeys, effective:KEY, subject:KIND, subjectns:KIND, "
                              "pathmatch:PATH, podtarget)");
    }
    path = path.substr(0, bar);
  }
  RETURN_IF_ERROR(ParseSteps(full, path, &f.spec.steps));
  Classify(&f);
  f.spec.known = f.top != TopField::kUnknown;
  // Canonical text.
  std::string& c = f.spec.canonical;
  c = f.spec.steps[0].key;
  for (size_t i = 1; i < f.spec.steps.size(); ++i) {
    const PathStep& st = f.spec.steps[i];
    switch (st.kind) {
      case PathStep::Kind::kKey:
        AppendCanonicalKey(st.key, &c);
        break;
      case PathStep::Kind::kIndex:
        // Appended piecewise: `"[" + std::to_string(...)` trips GCC 12's -Wrestrict false
        // positive (PR 105329) at -O3.
        c += '[';
        c += std::to_string(st.index);
        c += ']';
        break;
      case PathStep::Kind::kAnyIndex:
        c += "[*]";
        break;
    }
  }
  switch (f.transform) {
    case Transform::kNone:
      break;
    case Transform::kCount:
      f.spec.type = FieldType::kNumber;
      f.spec.multi = false;
      break;
    case Transform::kJson:
      f.spec.type = FieldType::kString;
      break;
    case Transform::kLower:
    case Transform::kRepository:
    case Transform::kUaFamily:
    case Transform::kPodTarget:
      if (f.spec.type != FieldType::kJson) f.spec.type = FieldType::kString;
      break;
    case Transform::kUnixNano:
    case Transform::kTypeKeys:
    case Transform::kSubject:
    case Transform::kSubjectNs:
      f.spec.type = FieldType::kString;
      break;
    case Transform::kPathMatch:
      f.spec.type = FieldType::kString;
      f.spec.multi = false;
      break;
    case Transform::kEffective:
      f.spec.type = FieldType::kJson;
      break;
  }
  if (f.transform != Transform::kNone) {
    c += "|";
    c += TransformName(f.transform);
    if (!f.transform_arg.empty()) {
      c += ":";
      c += f.transform_arg;
    }
  }
  return f;
}

}  // namespace internal

Result<FieldSpec> DescribeField(std::string_view path) {
  ASSIGN_OR_RETURN(internal::ParsedField f, internal::ParseField(path));
  return std::move(f.spec);
}

}  // namespace vigil::detect
