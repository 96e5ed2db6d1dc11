// Benchmark peer: six of Vigil's built-in single-event rules over nlohmann::json DOMs (one
// std::getline + json::parse per line). Prints {"rule":..,"auditID":..} per match; see rules.py.
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace {

using nlohmann::json;

const std::unordered_set<std::string> kControlPlaneUsers = {"system:kube-controller-manager",
                                                            "system:kube-scheduler",
                                                            "system:apiserver",
                                                            "system:kube-proxy",
                                                            "system:addon-manager",
                                                            "system:cloud-controller-manager",
                                                            "cloud-controller-manager",
                                                            "kube-apiserver-healthcheck",
                                                            "system:konnectivity-server",
                                                            "system:aws-node-termination-handler"};
const std::unordered_set<std::string> kHealthPaths = {
    "/healthz",       "/livez", "/readyz", "/version", "/.well-known/openid-configuration",
    "/openid/v1/jwks"};
const std::unordered_set<std::string> kWorkloadResources = {
    "pods", "deployments", "daemonsets",   "replicasets",           "statefulsets",
    "jobs", "cronjobs",    "podtemplates", "replicationcontrollers"};
const std::unordered_set<std::string> kPrivilegedImages = {
    "falcosecurity/falco",
    "docker.io/falcosecurity/falco",
    "public.ecr.aws/falcosecurity/falco",
    "docker.io/calico/node",
    "calico/node",
    "quay.io/calico/node",
    "docker.io/cloudnativelabs/kube-router",
    "docker.io/docker/ucp-agent",
    "docker.io/mesosphere/mesos-slave",
    "docker.io/rook/toolbox",
    "docker.io/sysdig/sysdig",
    "sysdig/sysdig",
    "gcr.io/google_containers/kube-proxy",
    "gcr.io/google-containers/startup-script",
    "gcr.io/projectcalico-org/node",
    "gke.gcr.io/kube-proxy",
    "gke.gcr.io/gke-metadata-server",
    "gke.gcr.io/netd-amd64",
    "gke.gcr.io/watcher-daemonset",
    "gcr.io/google-containers/prometheus-to-sd",
    "registry.k8s.io/ip-masq-agent-amd64",
    "registry.k8s.io/kube-proxy",
    "registry.k8s.io/prometheus-to-sd",
    "registry.k8s.io/dns/k8s-dns-node-cache",
    "mcr.microsoft.com/oss/kubernetes/kube-proxy"};

using Path = std::vector<std::string>;
const std::vector<Path> kSpecPrefixes = {{"spec"},
                                         {"spec", "template", "spec"},
                                         {"spec", "jobTemplate", "spec", "template", "spec"},
                                         {"template", "spec"}};
const char* const kContainerKinds[] = {"containers", "initContainers", "ephemeralContainers"};

// Values a body path yields: "*" iterates an array, a key needs an object that has it, a final
// array is flattened one level.
void Walk(const json& node, const Path& steps, size_t i, std::vector<const json*>* out) {
  if (i == steps.size()) {
    if (node.is_array()) {
      for (const json& x : node) out->push_back(&x);
    } else {
      out->push_back(&node);
    }
    return;
  }
  if (steps[i] == "*") {
    if (!node.is_array()) return;
    for (const json& x : node) Walk(x, steps, i + 1, out);
    return;
  }
  if (!node.is_object()) return;
  auto it = node.find(steps[i]);
  if (it != node.end()) Walk(*it, steps, i + 1, out);
}

std::vector<const json*> Values(const json* root, const Path& steps) {
  std::vector<const json*> out;
  if (root != nullptr) Walk(*root, steps, 0, &out);
  return out;
}

Path Concat(const Path& a, std::initializer_list<const char*> b) {
  Path p = a;
  for (const char* s : b) p.emplace_back(s);
  return p;
}

bool IsStr(const json* v, std::string_view s) {
  return v->is_string() && v->get_ref<const std::string&>() == s;
}

bool IsTrue(const json* v) { return (v->is_boolean() && v->get<bool>()) || IsStr(v, "true"); }

const json* Member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// A top-level string member: empty when missing, not a string, or empty (all "absent").
std::string Top(const json* obj, const char* key) {
  if (obj == nullptr) return {};
  const json* v = Member(*obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

std::string Repository(std::string image) {
  size_t at = image.find('@');
  if (at != std::string::npos) image.resize(at);
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    image.resize(colon);
  }
  return image;
}

// responseStatus.code: an integer 0..INT32_MAX or a string of digits; -1 when absent.
long long ResponseCode(const json& ev) {
  const json* rs = Member(ev, "responseStatus");
  if (rs == nullptr) return -1;
  const json* c = Member(*rs, "code");
  if (c == nullptr) return -1;
  long long n = -1;
  if (c->is_number_unsigned()) {
    n = c->get<unsigned long long>() > 2147483647ULL ? -1 : c->get<long long>();
  } else if (c->is_number_integer()) {
    n = c->get<long long>();
  } else if (c->is_string()) {
    static const std::regex kDigits("-?[0-9]{1,18}");
    const std::string& s = c->get_ref<const std::string&>();
    if (!std::regex_match(s, kDigits)) return -1;
    n = std::stoll(s);
  }
  return (n >= 0 && n <= 2147483647LL) ? n : -1;
}

bool StartsWith(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

void Emit(const char* rule, const std::string& id) {
  nlohmann::ordered_json out = {{"rule", rule}, {"auditID", id}};
  std::cout << out.dump() << '\n';
}

void Evaluate(const json& ev) {
  if (!ev.is_object()) return;
  if (const json* kind = Member(ev, "kind"); kind != nullptr && !IsStr(kind, "Event")) return;
  const std::string id = Top(&ev, "auditID");
  if (id.empty()) return;
  if (const json* st = Member(ev, "stage"); st != nullptr && IsStr(st, "RequestReceived")) return;

  const std::string verb = Top(&ev, "verb");
  const json* ref = Member(ev, "objectRef");
  const std::string res = Top(ref, "resource");
  const std::string sub = Top(ref, "subresource");
  const json* user = Member(ev, "user");
  const std::string username = Top(user, "username");
  const long long code = ResponseCode(ev);
  const json* ann = Member(ev, "annotations");
  const std::string decision = ann != nullptr ? Top(ann, "authorization.k8s.io/decision") : "";
  const bool allowed = !(code >= 400) && decision != "forbid";
  const bool system = kControlPlaneUsers.count(username) > 0 || StartsWith(username, "eks:") ||
                      StartsWith(username, "aksService") || StartsWith(username, "system:node:") ||
                      StartsWith(username, "system:serviceaccount:kube-system:");
  const bool writes = verb == "create" || verb == "update" || verb == "patch";
  const json* ro = Member(ev, "requestObject");

  if (res == "pods" && sub == "exec" && (verb == "create" || verb == "get") && allowed) {
    Emit("k8s.exec_into_pod", id);
  }

  if (res == "secrets" && sub.empty() && Top(ref, "namespace").empty() &&
      (verb == "list" || verb == "watch") && allowed && !system) {
    Emit("k8s.secrets_list_all_namespaces", id);
  }

  if (writes && allowed && !system &&
      ((res == "pods" && (sub.empty() || sub == "ephemeralcontainers")) ||
       (kWorkloadResources.count(res) > 0 && sub.empty()))) {
    bool privileged = false;
    for (const Path& p : kSpecPrefixes) {
      for (const char* k : kContainerKinds) {
        for (const json* v : Values(ro, Concat(p, {k, "*", "securityContext", "privileged"}))) {
          privileged = privileged || IsTrue(v);
        }
      }
    }
    bool trusted = false;
    for (const Path& p : kSpecPrefixes) {
      size_t n = 0;
      bool all = true;
      for (const json* v : Values(ro, Concat(p, {"containers", "*", "image"}))) {
        if (!v->is_string()) continue;
        ++n;
        all = all && kPrivilegedImages.count(Repository(v->get<std::string>())) > 0;
      }
      trusted = trusted || (n > 0 && all);
    }
    if (privileged && !trusted) Emit("k8s.privileged_pod", id);
  }

  const std::string api_group = Top(ref, "apiGroup");
  if (writes && (res == "clusterrolebindings" || res == "rolebindings") &&
      (api_group == "rbac.authorization.k8s.io" || api_group.empty()) && sub.empty() && allowed &&
      !system) {
    bool name_admin = false, kind_ok = false, masters = false;
    for (const json* v : Values(ro, {"roleRef", "name"})) name_admin |= IsStr(v, "cluster-admin");
    std::vector<const json*> kinds = Values(ro, {"roleRef", "kind"});
    kind_ok = kinds.empty();
    for (const json* v : kinds) kind_ok |= IsStr(v, "ClusterRole");
    for (const json* v : Values(ro, {"subjects", "*", "name"}))
      masters |= IsStr(v, "system:masters");
    if ((name_admin && kind_ok) || masters) Emit("k8s.cluster_admin_binding", id);
  }

  bool anonymous = username == "system:anonymous";
  if (!anonymous && user != nullptr) {
    const json* groups = Member(*user, "groups");
    if (groups != nullptr && groups->is_array()) {
      for (const json& g : *groups) anonymous = anonymous || IsStr(&g, "system:unauthenticated");
    }
  }
  if (anonymous) {
    const bool succeeded = code >= 0 ? (code >= 200 && code < 300) : decision == "allow";
    std::string path = Top(&ev, "requestURI");
    path = path.substr(0, path.find('?'));
    const bool health = kHealthPaths.count(path) > 0 || StartsWith(path, "/healthz/") ||
                        StartsWith(path, "/livez/") || StartsWith(path, "/readyz/") ||
                        StartsWith(path, "/version/");
    if (succeeded && !health) Emit("k8s.anonymous_request_allowed", id);
  }

  if (res == "pods" && writes && (sub.empty() || sub == "ephemeralcontainers") && allowed &&
      !system) {
    static const std::regex kDebugImage(
        "(^|/)(alpine|busybox|ubuntu|debian|netshoot|kali-rolling|kali-linux[a-z-]*|"
        "network-multitool|curl|centos|fedora|amazonlinux)(:|@|$)");
    bool debug = false;
    for (const char* k : {"containers", "ephemeralContainers"}) {
      for (const json* v : Values(ro, {"spec", k, "*", "image"})) {
        debug = debug || (v->is_string() &&
                          std::regex_search(v->get_ref<const std::string&>(), kDebugImage));
      }
    }
    if (debug) Emit("k8s.debug_image_pod", id);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: nlohmann_rules FILE.jsonl\n";
    return 2;
  }
  std::ios::sync_with_stdio(false);
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "nlohmann_rules: cannot open " << argv[1] << "\n";
    return 1;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json ev = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (ev.is_discarded()) continue;
    Evaluate(ev);
  }
  return 0;
}
