// The ka.* / jevt.* field table of the Falco front end (see falco_fields.h and the "Falco front
// end" section of detect/README.md for the mapping and its documented deviations).
#include "falco_fields.h"

#include <array>
#include <cctype>
#include <string>
#include <unordered_map>

namespace vigil::detect {
namespace {

enum class Arg : uint8_t {
  kNone,   // no [argument] allowed
  kIndex,  // optional [N]: selects the N-th element of the first [*] of the path
  kKey,    // required [KEY]: substituted for "%s" in the path
};

struct FieldDef {
  FieldDef() = default;
  FieldDef(std::string p, bool m = false, Arg a = Arg::kNone, std::string u = "")  // NOLINT
      : path(std::move(p)), multi(m), arg(a), unsupported(std::move(u)) {}
  std::string path;
  bool multi = false;
  Arg arg = Arg::kNone;
  std::string unsupported;  // non-empty: a real plugin field Vigil cannot express, and why
};

using Table = std::unordered_map<std::string, FieldDef>;

void AddContainerFields(Table* t, std::string_view list) {
  const std::string prefix = "ka.req.pod." + std::string(list);
  const std::string base = "requestObject.spec." + std::string(list) + "[*]";
  auto add = [&](std::string_view suffix, std::string_view tail) {
    (*t)[prefix + std::string(suffix)] = {base + std::string(tail), true, Arg::kIndex, ""};
  };
  add(".name", ".name");
  add(".image", ".image");
  add(".image.repository", ".image|repository");
  add(".command", ".command[*]");
  add(".args", ".args[*]");
  add(".host_port", ".ports[*].hostPort");
  add(".privileged", ".securityContext.privileged");
  add(".allow_privilege_escalation", ".securityContext.allowPrivilegeEscalation");
  add(".read_only_fs", ".securityContext.readOnlyRootFilesystem");
  add(".run_as_user", ".securityContext.runAsUser");
  add(".run_as_group", ".securityContext.runAsGroup");
  add(".proc_mount", ".securityContext.procMount");
  add(".add_capabilities", ".securityContext.capabilities.add[*]");
  // The plugin's documented semantics: the container's value, else the pod's, else 0.
  add(".eff_run_as_user", "|effective:runAsUser");
  add(".eff_run_as_group", "|effective:runAsGroup");
}

const Table& Fields() {
  static const Table* table = [] {
    auto* t = new Table{
        {"ka.auditid", {"auditID"}},
        {"ka.stage", {"stage"}},
        {"ka.auth.decision", {"annotations[\"authorization.k8s.io/decision\"]"}},
        {"ka.auth.reason", {"annotations[\"authorization.k8s.io/reason\"]"}},
        // Annotations the k8saudit plugin reads as fields of their own.
        {"ka.auth.openshift.decision", {"annotations[\"authentication.openshift.io/decision\"]"}},
        {"ka.auth.openshift.username", {"annotations[\"authentication.openshift.io/username\"]"}},
        {"ka.validations.admission.policy.failure",
         {"annotations[\"validation.policy.admission.k8s.io/validation_failure\"]"}},
        {"ka.security.pod.violations",
         {"annotations[\"pod-security.kubernetes.io/audit-violations\"]"}},
        {"ka.user.name", {"user.username"}},
        {"ka.user.groups", {"user.groups[*]", true, Arg::kIndex, ""}},
        {"ka.impuser.name", {"impersonatedUser.username"}},
        {"ka.verb", {"verb"}},
        {"ka.uri", {"requestURI"}},
        {"ka.uri.param", {"requestURI.query[\"%s\"][*]", false, Arg::kKey, ""}},
        {"ka.target.name", {"objectRef.name"}},
        {"ka.target.namespace", {"objectRef.namespace"}},
        {"ka.target.resource", {"objectRef.resource"}},
        {"ka.target.subresource", {"objectRef.subresource"}},
        {"ka.target.pod.name", {"responseObject.metadata.name|podtarget"}},
        // The plugin yields each subject object as JSON text, not its name.
        {"ka.req.binding.subjects", {"requestObject.subjects[*]|json", true, Arg::kNone, ""}},
        {"ka.req.binding.role", {"requestObject.roleRef.name"}},
        {"ka.req.binding.subjects.user_names",
         {"requestObject.subjects[*]|subject:User", true, Arg::kNone, ""}},
        {"ka.req.binding.subjects.serviceaccount_names",
         {"requestObject.subjects[*]|subject:ServiceAccount", true, Arg::kNone, ""}},
        {"ka.req.binding.subjects.serviceaccount_ns_names",
         {"requestObject.subjects[*]|subjectns:ServiceAccount", true, Arg::kNone, ""}},
        {"ka.req.binding.subjects.group_names",
         {"requestObject.subjects[*]|subject:Group", true, Arg::kNone, ""}},
        // Deprecated in the plugin, which always yields "true" (the loader folds it).
        {"ka.req.binding.subject.has_name", {std::string(kFalcoTruePath), false, Arg::kKey, ""}},
        {"ka.req.configmap.name", {"objectRef.name"}},
        {"ka.req.configmap.obj", {"requestObject.data|json"}},
        {"ka.req.container.image", {"requestObject.spec.containers[0].image"}},
        {"ka.req.container.image.repository",
         {"requestObject.spec.containers[0].image|repository"}},
        {"ka.req.container.privileged",
         {"requestObject.spec.containers[*].securityContext.privileged"}},
        {"ka.req.pod.host_ipc", {"requestObject.spec.hostIPC"}},
        {"ka.req.pod.host_network", {"requestObject.spec.hostNetwork"}},
        {"ka.req.container.host_network", {"requestObject.spec.hostNetwork"}},
        {"ka.req.pod.host_pid", {"requestObject.spec.hostPID"}},
        {"ka.req.pod.run_as_user", {"requestObject.spec.securityContext.runAsUser"}},
        {"ka.req.pod.run_as_group", {"requestObject.spec.securityContext.runAsGroup"}},
        {"ka.req.pod.fs_group", {"requestObject.spec.securityContext.fsGroup"}},
        {"ka.req.pod.supplemental_groups",
         {"requestObject.spec.securityContext.supplementalGroups[*]", true, Arg::kNone, ""}},
        {"ka.req.role.rules", {"requestObject.rules[*]|json", true, Arg::kNone, ""}},
        {"ka.req.role.rules.apiGroups",
         {"requestObject.rules[*].apiGroups[*]", true, Arg::kIndex, ""}},
        {"ka.req.role.rules.nonResourceURLs",
         {"requestObject.rules[*].nonResourceURLs[*]", true, Arg::kIndex, ""}},
        {"ka.req.role.rules.verbs", {"requestObject.rules[*].verbs[*]", true, Arg::kIndex, ""}},
        {"ka.req.role.rules.resources",
         {"requestObject.rules[*].resources[*]", true, Arg::kIndex, ""}},
        {"ka.req.service.type", {"requestObject.spec.type"}},
        {"ka.req.service.ports", {"requestObject.spec.ports[*]|json", true, Arg::kIndex, ""}},
        {"ka.req.pod.volumes.hostpath",
         {"requestObject.spec.volumes[*].hostPath.path", true, Arg::kIndex, ""}},
        {"ka.req.pod.volumes.flexvolume_driver",
         {"requestObject.spec.volumes[*].flexVolume.driver", true, Arg::kIndex, ""}},
        {"ka.req.pod.volumes.volume_type",
         {"requestObject.spec.volumes[*]|typekeys", true, Arg::kIndex, ""}},
        // Deprecated: "true" when a volume's host path is KEY, or starts with it when KEY ends
        // with '*'.
        {"ka.req.volume.hostpath",
         {"requestObject.spec.volumes[*]|pathmatch:%s", false, Arg::kKey, ""}},
        {"ka.resp.name", {"responseObject.metadata.name"}},
        {"ka.response.code", {"responseStatus.code"}},
        {"ka.response.reason", {"responseStatus.reason"}},
        {"ka.useragent", {"userAgent"}},
        {"ka.sourceips", {"sourceIPs[*]", true, Arg::kIndex, ""}},
        {"ka.cluster.name", {"cluster"}},
        {"jevt.time", {"requestReceivedTimestamp"}},
        {"jevt.time.iso8601", {"requestReceivedTimestamp"}},
        {"jevt.rawtime", {std::string(kFalcoRawTimePath)}},
        {"jevt.obj", {"event"}},
        // The json plugin's names for the same (jevt.* are its aliases).
        {"json.rawtime", {std::string(kFalcoRawTimePath)}},
        {"json.obj", {"event"}},
    };
    AddContainerFields(t, "containers");
    AddContainerFields(t, "initContainers");
    AddContainerFields(t, "ephemeralContainers");
    return t;
  }();
  return *table;
}

bool IsPlainKey(std::string_view key) {
  if (key.empty() || !(std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_')) {
    return false;
  }
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string Quote(std::string_view key) {
  std::string out = "[\"";
  for (char c : key) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += "\"]";
  return out;
}

}  // namespace

Result<std::string> JsonPointerToPath(std::string_view pointer) {
  if (pointer.empty() || pointer[0] != '/') {
    return Status::InvalidArgument(
        "jevt.value needs a JSON pointer below the event root, like "
        "/requestObject/spec, got '" +
        std::string(pointer) + "'");
  }
  std::string path;
  size_t i = 1;
  bool first = true;
  while (true) {
    size_t slash = pointer.find('/', i);
    std::string_view raw =
        pointer.substr(i, slash == std::string_view::npos ? std::string_view::npos : slash - i);
    std::string seg;
    for (size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] == '~' && k + 1 < raw.size() && (raw[k + 1] == '0' || raw[k + 1] == '1')) {
        seg += raw[k + 1] == '1' ? '/' : '~';
        ++k;
      } else {
        seg += raw[k];
      }
    }
    if (first) {
      // RFC 6901: a pointer to something absent is absent. An audit event has no top-level
      // key that is not a plain name ("a/b", "x~y", "0", ""): such a pointer gets a path
      // below a top-level name no event has, which is absent when evaluated and left as
      // written in an output.
      path = IsPlainKey(seg) ? seg : "jevt" + Quote(seg);
      first = false;
    } else if (AllDigits(seg)) {
      path += "[" + seg + "]";
    } else if (IsPlainKey(seg)) {
      path += "." + seg;
    } else {
      path += Quote(seg);
    }
    if (slash == std::string_view::npos) break;
    i = slash + 1;
  }
  return path;
}

Result<ResolvedField> ResolveFalcoField(std::string_view token) {
  std::string_view name = token;
  std::string_view arg;
  bool has_arg = false;
  size_t bracket = token.find('[');
  if (bracket != std::string_view::npos) {
    if (token.back() != ']') {
      return Status::InvalidArgument("malformed field '" + std::string(token) +
                                     "': an [argument] must end the field");
    }
    name = token.substr(0, bracket);
    arg = token.substr(bracket + 1, token.size() - bracket - 2);
    has_arg = true;
  }
  if (name == "jevt.value" || name == "json.value") {
    if (!has_arg) {
      return Status::InvalidArgument(std::string(name) + " needs a [/json/pointer] argument");
    }
    ASSIGN_OR_RETURN(std::string path, JsonPointerToPath(arg));
    ResolvedField rf;
    rf.field.path = std::move(path);
    return rf;
  }
  const Table& table = Fields();
  auto it = table.find(std::string(name));
  if (it == table.end()) {
    return Status::InvalidArgument("unknown field '" + std::string(token) +
                                   "' (not a k8s_audit field)");
  }
  const FieldDef& def = it->second;
  if (!def.unsupported.empty()) {
    return Status::InvalidArgument("field '" + std::string(name) +
                                   "' is not supported: " + def.unsupported);
  }
  ResolvedField rf;
  rf.field.path = def.path;
  rf.in_quantifier = def.multi ? Quantifier::kAll : Quantifier::kAny;
  switch (def.arg) {
    case Arg::kNone:
      if (has_arg) {
        return Status::InvalidArgument("field '" + std::string(name) + "' takes no argument");
      }
      break;
    case Arg::kIndex:
      // Like the plugin, a non-numeric argument is no filter.
      if (has_arg && AllDigits(arg)) {
        size_t star = rf.field.path.find("[*]");
        if (star != std::string::npos) {
          rf.field.path.replace(star, 3, "[" + std::string(arg) + "]");
          if (rf.field.path.find("[*]") == std::string::npos) {
            rf.in_quantifier = Quantifier::kAny;
          }
        }
      }
      break;
    case Arg::kKey: {
      if (!has_arg || arg.empty()) {
        return Status::InvalidArgument("field '" + std::string(name) + "' needs a [key] argument");
      }
      // In a path key ["%s"] the key is escaped; after a transform's ':' it is taken as is.
      size_t at = rf.field.path.find("%s");
      if (at == std::string::npos) break;  // the key is required but not used
      const bool in_key = at > 0 && rf.field.path[at - 1] == '"';
      std::string inner = std::string(arg);
      if (in_key) {
        std::string quoted = Quote(arg);  // ["key"]
        inner = quoted.substr(2, quoted.size() - 4);
      }
      rf.field.path.replace(at, 2, inner);
      break;
    }
  }
  return rf;
}

bool IsUnknownFalcoFieldError(const Status& status) {
  return status.message().find("unknown field '") != std::string::npos;
}

}  // namespace vigil::detect
