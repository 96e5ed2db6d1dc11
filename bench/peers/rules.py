#!/usr/bin/env python3
# Benchmark peer: six of Vigil's built-in single-event rules re-implemented with the Python stdlib
# json module, one json.loads per line. Prints {"rule":..,"auditID":..} per match.
#
# Mirrors detect/rules/{00_common,execution,secrets,workloads,rbac,access}.yaml and the engine's
# value semantics (detect/README.md): a top-level string field that is empty or not a string is
# absent; responseStatus.code is an integer 0..INT32_MAX (or a string of digits); a body path
# yields the values it reaches, a final array flattened one level, `[*]` over a non-array yields
# nothing; `= true` matches the JSON boolean true or the string "true"; comparisons are
# case-sensitive; a rule is evaluated unless stage = RequestReceived (outcome_known).
import json
import re
import sys

CONTROL_PLANE_USERS = frozenset([
    "system:kube-controller-manager", "system:kube-scheduler", "system:apiserver",
    "system:kube-proxy", "system:addon-manager", "system:cloud-controller-manager",
    "cloud-controller-manager", "kube-apiserver-healthcheck", "system:konnectivity-server",
    "system:aws-node-termination-handler",
])
HEALTH_PATHS = frozenset(["/healthz", "/livez", "/readyz", "/version",
                          "/.well-known/openid-configuration", "/openid/v1/jwks"])
HEALTH_PREFIXES = ("/healthz/", "/livez/", "/readyz/", "/version/")
WORKLOAD_RESOURCES = frozenset(["pods", "deployments", "daemonsets", "replicasets",
                                "statefulsets", "jobs", "cronjobs", "replicationcontrollers",
                                "podtemplates"])
PRIVILEGED_IMAGES = frozenset([
    "falcosecurity/falco", "docker.io/falcosecurity/falco", "public.ecr.aws/falcosecurity/falco",
    "docker.io/calico/node", "calico/node", "quay.io/calico/node",
    "docker.io/cloudnativelabs/kube-router", "docker.io/docker/ucp-agent",
    "docker.io/mesosphere/mesos-slave", "docker.io/rook/toolbox", "docker.io/sysdig/sysdig",
    "sysdig/sysdig", "gcr.io/google_containers/kube-proxy",
    "gcr.io/google-containers/startup-script", "gcr.io/projectcalico-org/node",
    "gke.gcr.io/kube-proxy", "gke.gcr.io/gke-metadata-server", "gke.gcr.io/netd-amd64",
    "gke.gcr.io/watcher-daemonset", "gcr.io/google-containers/prometheus-to-sd",
    "registry.k8s.io/ip-masq-agent-amd64", "registry.k8s.io/kube-proxy",
    "registry.k8s.io/prometheus-to-sd", "registry.k8s.io/dns/k8s-dns-node-cache",
    "mcr.microsoft.com/oss/kubernetes/kube-proxy",
])
# RE2 partial match; \A and \Z so that a trailing newline is not an end of text (as in RE2).
DEBUG_IMAGE_RE = re.compile(
    r"(?:\A|/)(alpine|busybox|ubuntu|debian|netshoot|kali-rolling|kali-linux[a-z-]*|"
    r"network-multitool|curl|centos|fedora|amazonlinux)(?::|@|\Z)")
# Pod-spec locations: pods, workloads, cronjobs, podtemplates.
SPEC_PREFIXES = (("spec",), ("spec", "template", "spec"),
                 ("spec", "jobTemplate", "spec", "template", "spec"), ("template", "spec"))
CONTAINER_KINDS = ("containers", "initContainers", "ephemeralContainers")
CODE_RE = re.compile(r"-?[0-9]+")
INT32_MAX = 2147483647


def values(node, steps, i=0, out=None):
    """Values a body path yields: '*' iterates an array; a final array is flattened once."""
    if out is None:
        out = []
    if i == len(steps):
        if isinstance(node, list):
            out.extend(node)
        else:
            out.append(node)
        return out
    step = steps[i]
    if step == "*":
        if isinstance(node, list):
            for x in node:
                values(x, steps, i + 1, out)
    elif isinstance(node, dict) and step in node:
        values(node[step], steps, i + 1, out)
    return out


def is_true(v):
    return v is True or v == "true"


def top(obj, key):
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, str) and v else None


def repository(image):
    at = image.find("@")
    if at >= 0:
        image = image[:at]
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon >= 0 and (slash < 0 or colon > slash):
        image = image[:colon]
    return image


def response_code(ev):
    rs = ev.get("responseStatus")
    if not isinstance(rs, dict):
        return None
    c = rs.get("code")
    if isinstance(c, bool):
        return None
    if isinstance(c, int):
        return c if 0 <= c <= INT32_MAX else None
    if isinstance(c, str) and CODE_RE.fullmatch(c):
        n = int(c)
        return n if 0 <= n <= INT32_MAX else None
    return None


def evaluate(ev, emit):
    if not isinstance(ev, dict):
        return
    kind = ev.get("kind")
    if "kind" in ev and kind != "Event":
        return
    audit_id = top(ev, "auditID")
    if audit_id is None:
        return
    if ev.get("stage") == "RequestReceived":  # outcome_known
        return
    verb = top(ev, "verb")
    ref = ev.get("objectRef")
    resource = top(ref, "resource")
    subresource = top(ref, "subresource")
    user = ev.get("user")
    username = top(user, "username") or ""
    code = response_code(ev)
    ann = ev.get("annotations")
    decision = ann.get("authorization.k8s.io/decision") if isinstance(ann, dict) else None
    if not isinstance(decision, str):
        decision = None
    allowed = not (code is not None and code >= 400) and decision != "forbid"
    system_component = (username in CONTROL_PLANE_USERS or username.startswith("eks:") or
                        username.startswith("aksService") or
                        username.startswith("system:node:") or
                        username.startswith("system:serviceaccount:kube-system:"))

    # k8s.exec_into_pod
    if (resource == "pods" and subresource == "exec" and verb in ("create", "get") and allowed):
        emit("k8s.exec_into_pod", audit_id)

    # k8s.secrets_list_all_namespaces
    if (resource == "secrets" and subresource is None and top(ref, "namespace") is None and
            verb in ("list", "watch") and allowed and not system_component):
        emit("k8s.secrets_list_all_namespaces", audit_id)

    writes = verb in ("create", "update", "patch")
    ro = ev.get("requestObject")

    # k8s.privileged_pod
    if (writes and allowed and not system_component and
            ((resource == "pods" and subresource in (None, "ephemeralcontainers")) or
             (resource in WORKLOAD_RESOURCES and subresource is None))):
        privileged = any(
            is_true(v) for p in SPEC_PREFIXES for k in CONTAINER_KINDS
            for v in values(ro, p + (k, "*", "securityContext", "privileged")))
        if privileged:
            trusted = False
            for p in SPEC_PREFIXES:
                repos = [repository(v) for v in values(ro, p + ("containers", "*", "image"))
                         if isinstance(v, str)]
                if repos and all(r in PRIVILEGED_IMAGES for r in repos):
                    trusted = True
                    break
            if not trusted:
                emit("k8s.privileged_pod", audit_id)

    # k8s.cluster_admin_binding
    if (writes and resource in ("clusterrolebindings", "rolebindings") and
            top(ref, "apiGroup") in ("rbac.authorization.k8s.io", None) and subresource is None and
            allowed and not system_component):
        kinds = values(ro, ("roleRef", "kind"))
        admin = (any(v == "cluster-admin" for v in values(ro, ("roleRef", "name"))) and
                 (not kinds or any(v == "ClusterRole" for v in kinds)))
        masters = any(v == "system:masters" for v in values(ro, ("subjects", "*", "name")))
        if admin or masters:
            emit("k8s.cluster_admin_binding", audit_id)

    # k8s.anonymous_request_allowed
    groups = user.get("groups") if isinstance(user, dict) else None
    anonymous = username == "system:anonymous" or (
        isinstance(groups, list) and "system:unauthenticated" in groups)
    if anonymous:
        succeeded = (200 <= code < 300) if code is not None else decision == "allow"
        uri = top(ev, "requestURI")
        path = uri.split("?", 1)[0] if uri else ""
        health = path in HEALTH_PATHS or path.startswith(HEALTH_PREFIXES)
        if succeeded and not health:
            emit("k8s.anonymous_request_allowed", audit_id)

    # k8s.debug_image_pod
    if (resource == "pods" and writes and subresource in (None, "ephemeralcontainers") and
            allowed and not system_component):
        images = values(ro, ("spec", "containers", "*", "image")) + values(
            ro, ("spec", "ephemeralContainers", "*", "image"))
        if any(isinstance(v, str) and DEBUG_IMAGE_RE.search(v) for v in images):
            emit("k8s.debug_image_pod", audit_id)


def main():
    if len(sys.argv) != 2:
        print("usage: rules.py FILE.jsonl", file=sys.stderr)
        return 2
    out = sys.stdout
    emit = lambda rule, aid: out.write(json.dumps({"rule": rule, "auditID": aid},
                                                  separators=(",", ":")) + "\n")
    with open(sys.argv[1], "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            evaluate(ev, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
