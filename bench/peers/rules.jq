# Benchmark peer: six of Vigil's built-in single-event rules as a jq (1.6) program.
# Run: jq -c -f bench/peers/rules.jq FILE.jsonl   -> {"rule":..,"auditID":..} per match.
# Same logic as rules.py (see there and bench/peers/README.md for the value semantics). One
# known gap: jq reads every number as a double, so a code written 200.0 counts as 200 here while
# Vigil drops it (it wants an integer).

# Values a body path yields: "*" iterates an array, a key needs an object that has it, a final
# array is flattened one level.
def vals($steps):
  def w($i):
    if $i == ($steps | length) then (if type == "array" then .[] else . end)
    elif $steps[$i] == "*" then (if type == "array" then .[] | w($i + 1) else empty end)
    elif type == "object" and has($steps[$i]) then .[$steps[$i]] | w($i + 1)
    else empty end;
  w(0);

# A top-level string member: absent (null) when missing, not a string, or empty.
def top($k):
  if type == "object" then (.[$k] | if type == "string" and length > 0 then . else null end)
  else null end;

def is_true: . == true or . == "true";

def repository:
  (if index("@") then .[0:index("@")] else . end) as $s
  | ($s | rindex("/")) as $slash | ($s | rindex(":")) as $colon
  | if $colon != null and ($slash == null or $colon > $slash) then $s[0:$colon] else $s end;

def response_code:
  .responseStatus
  | if type == "object" then
      .code
      | if type == "number" then (if . == floor and . >= 0 and . <= 2147483647 then . else null end)
        elif type == "string" and test("\\A-?[0-9]+\\z") then
          (tonumber | if . >= 0 and . <= 2147483647 then . else null end)
        else null end
    else null end;

def set(items): reduce items as $i ({}; .[$i] = true);

def control_plane_users: set("system:kube-controller-manager", "system:kube-scheduler",
  "system:apiserver", "system:kube-proxy", "system:addon-manager",
  "system:cloud-controller-manager", "cloud-controller-manager", "kube-apiserver-healthcheck",
  "system:konnectivity-server", "system:aws-node-termination-handler");

def health_paths: set("/healthz", "/livez", "/readyz", "/version",
  "/.well-known/openid-configuration", "/openid/v1/jwks");

def workload_resources: set("pods", "deployments", "daemonsets", "replicasets", "statefulsets",
  "jobs", "cronjobs", "replicationcontrollers", "podtemplates");

def privileged_images: set("falcosecurity/falco", "docker.io/falcosecurity/falco",
  "public.ecr.aws/falcosecurity/falco", "docker.io/calico/node", "calico/node",
  "quay.io/calico/node", "docker.io/cloudnativelabs/kube-router", "docker.io/docker/ucp-agent",
  "docker.io/mesosphere/mesos-slave", "docker.io/rook/toolbox", "docker.io/sysdig/sysdig",
  "sysdig/sysdig", "gcr.io/google_containers/kube-proxy",
  "gcr.io/google-containers/startup-script", "gcr.io/projectcalico-org/node",
  "gke.gcr.io/kube-proxy", "gke.gcr.io/gke-metadata-server", "gke.gcr.io/netd-amd64",
  "gke.gcr.io/watcher-daemonset", "gcr.io/google-containers/prometheus-to-sd",
  "registry.k8s.io/ip-masq-agent-amd64", "registry.k8s.io/kube-proxy",
  "registry.k8s.io/prometheus-to-sd", "registry.k8s.io/dns/k8s-dns-node-cache",
  "mcr.microsoft.com/oss/kubernetes/kube-proxy");

def spec_prefixes: ["spec"], ["spec", "template", "spec"],
  ["spec", "jobTemplate", "spec", "template", "spec"], ["template", "spec"];

def debug_image_re:
  "(?:\\A|/)(alpine|busybox|ubuntu|debian|netshoot|kali-rolling|kali-linux[a-z-]*|network-multitool|curl|centos|fedora|amazonlinux)(?::|@|\\z)";

def match($rule; $id): {rule: $rule, auditID: $id};

control_plane_users as $cpu | health_paths as $hp | workload_resources as $wr
| privileged_images as $pi
| select(type == "object")
| select((has("kind") | not) or .kind == "Event")
| top("auditID") as $id
| select($id != null)
| select(.stage != "RequestReceived")  # outcome_known
| top("verb") as $verb
| (.objectRef | top("resource")) as $res
| (.objectRef | top("subresource")) as $sub
| ((.user | top("username")) // "") as $u
| response_code as $code
| (.annotations | if type == "object" then .["authorization.k8s.io/decision"]
                  | (if type == "string" then . else null end) else null end) as $decision
| (($code == null or $code < 400) and $decision != "forbid") as $allowed
| ($cpu[$u] or ($u | startswith("eks:")) or ($u | startswith("aksService"))
   or ($u | startswith("system:node:"))
   or ($u | startswith("system:serviceaccount:kube-system:"))) as $system
| ($verb == "create" or $verb == "update" or $verb == "patch") as $writes
| (
    # k8s.exec_into_pod
    if $res == "pods" and $sub == "exec" and ($verb == "create" or $verb == "get") and $allowed
    then match("k8s.exec_into_pod"; $id) else empty end,

    # k8s.secrets_list_all_namespaces
    if $res == "secrets" and $sub == null and (.objectRef | top("namespace")) == null
       and ($verb == "list" or $verb == "watch") and $allowed and ($system | not)
    then match("k8s.secrets_list_all_namespaces"; $id) else empty end,

    # k8s.privileged_pod
    if $writes and $allowed and ($system | not)
       and (($res == "pods" and ($sub == null or $sub == "ephemeralcontainers"))
            or ($res != null and $wr[$res] and $sub == null))
       and (.requestObject as $ro
            | any(spec_prefixes as $p | ("containers", "initContainers", "ephemeralContainers")
                  as $k | $ro | vals($p + [$k, "*", "securityContext", "privileged"]);
                  is_true))
       and (.requestObject as $ro
            | any(spec_prefixes as $p
                  | [$ro | vals($p + ["containers", "*", "image"]) | strings | repository]
                  | length > 0 and all(.[]; $pi[.]);
                  .) | not)
    then match("k8s.privileged_pod"; $id) else empty end,

    # k8s.cluster_admin_binding
    if $writes and ($res == "clusterrolebindings" or $res == "rolebindings")
       and ((.objectRef | top("apiGroup")) as $g | $g == "rbac.authorization.k8s.io" or $g == null)
       and $sub == null and $allowed and ($system | not)
       and (.requestObject as $ro
            | ((any($ro | vals(["roleRef", "name"]); . == "cluster-admin")
                and ([$ro | vals(["roleRef", "kind"])] as $kinds
                     | ($kinds | length) == 0 or any($kinds[]; . == "ClusterRole")))
               or any($ro | vals(["subjects", "*", "name"]); . == "system:masters")))
    then match("k8s.cluster_admin_binding"; $id) else empty end,

    # k8s.anonymous_request_allowed
    if ($u == "system:anonymous"
        or (.user | if type == "object" then .groups else null end
            | if type == "array" then any(.[]; . == "system:unauthenticated") else false end))
       and (if $code != null then $code >= 200 and $code < 300 else $decision == "allow" end)
       and ((top("requestURI") // "") | (index("?") as $q | if $q then .[0:$q] else . end)
            | ($hp[.] or startswith("/healthz/") or startswith("/livez/")
               or startswith("/readyz/") or startswith("/version/")) | not)
    then match("k8s.anonymous_request_allowed"; $id) else empty end,

    # k8s.debug_image_pod
    if $res == "pods" and $writes and ($sub == null or $sub == "ephemeralcontainers") and $allowed
       and ($system | not)
       and (.requestObject as $ro
            | any(($ro | vals(["spec", "containers", "*", "image"])),
                  ($ro | vals(["spec", "ephemeralContainers", "*", "image"]));
                  type == "string" and test(debug_image_re)))
    then match("k8s.debug_image_pod"; $id) else empty end
  )
