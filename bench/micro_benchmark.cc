// Micro-benchmarks of the stages parse_benchmark.cc does not cover, on one core: unwrapping the
// cloud envelopes (EKS, GKE, AKS) vs the same events bare, rule evaluation on events parsed
// beforehand (one rule, the whole stateless pack), the stateful path (StatefulDetector over a
// MemoryStateStore) and a RocksDB checkpoint commit (sync writes).
#include <benchmark/benchmark.h>
#include <simdjson.h>
#include <stdlib.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_events.h"
#include "vigil/core/audit_event.h"
#include "vigil/core/finding.h"
#include "vigil/core/json_writer.h"
#include "vigil/core/memory_state_store.h"
#include "vigil/core/state_store.h"
#include "vigil/detect/rule.h"
#include "vigil/detect/rule_engine.h"
#include "vigil/detect/rule_files.h"
#include "vigil/detect/stateful_detector.h"
#include "vigil/ingest/audit_event_parser.h"
#include "vigil/ingest/envelope.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace {

// ---------------------------------------------------------------------------------------------
// Events.

// A kubelet lease renewal, a human reading one secret, a ReplicaSet controller creating a pod
// (RequestResponse, pod spec in both bodies) and a human exec'ing into that pod.
const std::string kPodSpec =
    R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1a2b","generateName":"web-","namespace":"payments","uid":"0d4c6a7e-2f1b-4e8a-9c3d-5b6a7f8e9d01","labels":{"app":"web","pod-template-hash":"5d9c8f7b6"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-5d9c8f7b6","uid":"6e2f1a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b","controller":true,"blockOwnerDeletion":true}]},"spec":{"serviceAccountName":"web","containers":[{"name":"web","image":"registry.example.com/payments/web:1.42.0","ports":[{"containerPort":8080,"protocol":"TCP"}],"env":[{"name":"LOG_LEVEL","value":"info"},{"name":"DB_HOST","value":"payments-db.payments.svc"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"500m","memory":"512Mi"}},"volumeMounts":[{"name":"data","mountPath":"/data"},{"name":"kube-api-access-7x2k9","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]}}}],"volumes":[{"name":"data","emptyDir":{}},{"name":"kube-api-access-7x2k9","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}}]}}],"restartPolicy":"Always","dnsPolicy":"ClusterFirst","nodeSelector":{"kubernetes.io/os":"linux"},"tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]},"status":{"phase":"Pending","qosClass":"Burstable"}})";

std::vector<std::string> RealisticEvents() {
  const std::string lease =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"7e0f2b6c-8a6a-4c39-9f55-3f7a1c2d9b10","stage":"ResponseComplete","requestURI":"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/ip-10-0-3-26.ec2.internal?timeout=10s","verb":"update","user":{"username":"system:node:ip-10-0-3-26.ec2.internal","uid":"aws-iam-authenticator:123456789012:AROAEXAMPLE","groups":["system:bootstrappers","system:nodes","system:authenticated"]},"sourceIPs":["10.0.3.26"],"userAgent":"kubelet/v1.29.3 (linux/amd64) kubernetes/6813625","objectRef":{"resource":"leases","namespace":"kube-node-lease","name":"ip-10-0-3-26.ec2.internal","uid":"3b1c5d2e-7f8a-4b9c-8d0e-1f2a3b4c5d6e","apiGroup":"coordination.k8s.io","apiVersion":"v1","resourceVersion":"918273"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-02T09:00:00.000000Z","stageTimestamp":"2026-11-02T09:00:00.004120Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}})";
  const std::string secret =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"c9a1e3b5-2d4f-4a6b-8c0d-1e2f3a4b5c6d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/payments-db-credentials","verb":"get","user":{"username":"alice@example.com","uid":"u-1","groups":["developers","system:authenticated"]},"sourceIPs":["192.0.2.10"],"userAgent":"kubectl/v1.29.3 (linux/amd64) kubernetes/6813625","objectRef":{"resource":"secrets","namespace":"payments","name":"payments-db-credentials","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-02T09:00:01.000000Z","stageTimestamp":"2026-11-02T09:00:01.003000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"payments-admins/payments\" of ClusterRole \"admin\" to Group \"developers\""}})";
  const std::string create =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"5c2a9d7e-1b3f-4a6c-9e8d-7f0b2a4c6e81","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/pods","verb":"create","user":{"username":"system:serviceaccount:kube-system:replicaset-controller","uid":"u-2","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"]},"sourceIPs":["172.16.0.10"],"userAgent":"kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625/system:serviceaccount:kube-system:replicaset-controller","objectRef":{"resource":"pods","namespace":"payments","name":"web-1a2b","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":)" +
      kPodSpec + R"(,"responseObject":)" + kPodSpec +
      R"(,"requestReceivedTimestamp":"2026-11-02T09:00:02.000000Z","stageTimestamp":"2026-11-02T09:00:02.030000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"system:controller:replicaset-controller\" of ClusterRole \"system:controller:replicaset-controller\" to ServiceAccount \"replicaset-controller/kube-system\"","pod-security.kubernetes.io/enforce-policy":"restricted:latest"}})";
  const std::string exec =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a4b3c2d1-0e9f-4a8b-7c6d-5e4f3a2b1c0d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/pods/web-1a2b/exec?command=sh&command=-c&command=env&container=web&stdin=true&stdout=true&tty=true","verb":"create","user":{"username":"alice@example.com","uid":"u-1","groups":["developers","system:authenticated"]},"sourceIPs":["192.0.2.10"],"userAgent":"kubectl/v1.29.3 (linux/amd64) kubernetes/6813625","objectRef":{"resource":"pods","namespace":"payments","name":"web-1a2b","apiVersion":"v1","subresource":"exec"},"responseStatus":{"metadata":{},"code":101},"requestReceivedTimestamp":"2026-11-02T09:00:03.000000Z","stageTimestamp":"2026-11-02T09:00:09.500000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"payments-admins/payments\" of ClusterRole \"admin\" to Group \"developers\""}})";
  return {lease, secret, create, exec};
}

// The same four requests as GKE Cloud Audit LogEntries (what the Log Router sink delivers).
std::vector<std::string> GkeLogEntries() {
  const std::string head =
      R"("logName":"projects/shop-prod/logs/cloudaudit.googleapis.com%2Factivity","resource":{"type":"k8s_cluster","labels":{"project_id":"shop-prod","location":"europe-west1","cluster_name":"prod-1"}},)";
  const std::string labels =
      R"("labels":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"access granted by IAM permissions."},)";
  auto entry = [&](std::string_view id, std::string_view ts, std::string_view method,
                   std::string_view resource, std::string_view principal, std::string_view ip,
                   std::string_view agent, std::string_view bodies) {
    std::string e = R"({"insertId":")" + std::string(id) + R"(",)" + head + labels;
    e += R"("operation":{"id":")" + std::string(id) +
         R"(","producer":"k8s.io","first":true,"last":true},)";
    e += R"("protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",)";
    e += R"("authenticationInfo":{"principalEmail":")" + std::string(principal) + R"("},)";
    e += R"("authorizationInfo":[{"granted":true,"permission":")" + std::string(method) +
         R"(","resource":")" + std::string(resource) + R"("}],)";
    e += R"("methodName":")" + std::string(method) + R"(",)";
    e += R"("requestMetadata":{"callerIp":")" + std::string(ip) +
         R"(","callerSuppliedUserAgent":")" + std::string(agent) + R"("},)";
    e += R"("resourceName":")" + std::string(resource) + R"(","serviceName":"k8s.io","status":{})" +
         std::string(bodies) + "},";
    e += R"("receiveTimestamp":")" + std::string(ts).substr(0, 19) + R"(.912345678Z",)";
    e += R"("timestamp":")" + std::string(ts) + R"("})";
    return e;
  };
  std::string pod_body = R"(,"request":)" + kPodSpec + R"(,"response":)" + kPodSpec;
  return {
      entry("4f1c2d3e-lease", "2026-11-02T09:00:00.004120Z", "io.k8s.coordination.v1.leases.update",
            "coordination.k8s.io/v1/namespaces/kube-node-lease/leases/gke-prod-1-pool-1-abcd",
            "kubelet", "10.132.0.7", "kubelet/v1.29.3-gke.1282000 (linux/amd64) kubernetes/1b1cd6c",
            ""),
      entry("4f1c2d3e-secret", "2026-11-02T09:00:01.003000Z", "io.k8s.core.v1.secrets.get",
            "core/v1/namespaces/payments/secrets/payments-db-credentials", "alice@example.com",
            "192.0.2.10", "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625", ""),
      entry("4f1c2d3e-create", "2026-11-02T09:00:02.030000Z", "io.k8s.core.v1.pods.create",
            "core/v1/namespaces/payments/pods/web-1a2b",
            "system:serviceaccount:kube-system:replicaset-controller", "172.16.0.10",
            "kube-controller-manager/v1.29.3 (linux/amd64) kubernetes/6813625", pod_body),
      entry("4f1c2d3e-exec", "2026-11-02T09:00:09.500000Z", "io.k8s.core.v1.pods.exec.create",
            "core/v1/namespaces/payments/pods/web-1a2b/exec", "alice@example.com", "192.0.2.10",
            "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625", ""),
  };
}

// The events for rule evaluation: the first 20,000 lines of $VIGIL_BENCH_EVENTS (a vigil-gen
// log, say) when set, else the four realistic events above (as in parse_benchmark.cc).
const std::vector<std::string>& BenchEvents() {
  static const std::vector<std::string> events = vigil::bench::BenchEventsOr(RealisticEvents());
  return events;
}

// Parsed events kept alive: an AuditEvent is a view into its parser's buffers, so each parsed
// event is deep-copied here (every view rebased onto a string this store owns). Parsing and
// copying happen once, outside the timed loops.
class ParsedEvents {
 public:
  // Parses every text (cluster "bench"); texts that do not parse are left out.
  explicit ParsedEvents(const std::vector<std::string>& texts) {
    vigil::ingest::AuditEventParser parser;
    vigil::AuditEvent event;
    vigil::ingest::ParseReport report;
    for (const auto& text : texts) {
      report.Clear();
      if (!parser.Parse(text, &event, &report).ok()) continue;
      event.cluster = "bench";
      events_.push_back(Copy(event));
    }
  }
  ParsedEvents(const ParsedEvents&) = delete;
  ParsedEvents& operator=(const ParsedEvents&) = delete;

  std::deque<vigil::AuditEvent>& events() { return events_; }
  size_t size() const { return events_.size(); }

 private:
  // A deque never moves its elements, so views of short (SSO) strings stay valid.
  std::string_view Own(std::string_view s) {
    if (s.empty()) return {};
    return strings_.emplace_back(s);
  }
  void OwnUser(vigil::UserInfo* u) {
    u->username = Own(u->username);
    u->uid = Own(u->uid);
    for (auto& g : u->groups) g = Own(g);
    for (auto& x : u->extra) {
      x.key = Own(x.key);
      for (auto& v : x.values) v = Own(v);
    }
  }
  vigil::AuditEvent Copy(const vigil::AuditEvent& in) {
    vigil::AuditEvent e = in;
    e.api_version = Own(e.api_version);
    e.kind = Own(e.kind);
    e.audit_id = Own(e.audit_id);
    e.request_uri = Own(e.request_uri);
    e.verb = Own(e.verb);
    OwnUser(&e.user);
    OwnUser(&e.impersonated_user);
    for (auto& ip : e.source_ips) ip = Own(ip);
    e.user_agent = Own(e.user_agent);
    auto& o = e.object_ref;
    for (std::string_view* f : {&o.resource, &o.namespace_, &o.name, &o.uid, &o.api_group,
                                &o.api_version, &o.resource_version, &o.subresource}) {
      *f = Own(*f);
    }
    e.response_status.status = Own(e.response_status.status);
    e.response_status.reason = Own(e.response_status.reason);
    e.response_status.message = Own(e.response_status.message);
    e.request_object = Own(e.request_object);
    e.response_object = Own(e.response_object);
    for (auto& [k, v] : e.annotations) {
      k = Own(k);
      v = Own(v);
    }
    e.cluster = Own(e.cluster);
    return e;
  }

  std::deque<std::string> strings_;
  std::deque<vigil::AuditEvent> events_;
};

std::string Quote(std::string_view s) {
  std::string out;
  vigil::AppendJsonString(s, &out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Envelope unwrap: EnvelopeDecoder over the four realistic events, bare (one JSON line per
// event) and in each cloud's envelope. Items are events delivered; bytes are record bytes, so
// the difference between the rows is what the envelope costs per event.

enum Envelope : int64_t {
  kBare,
  kCloudWatchEntry,         // EKS, one CloudWatch Logs entry per record (FilterLogEvents, export)
  kCloudWatchSubscription,  // EKS, a subscription DATA_MESSAGE with every event in logEvents
  kAksRecords,              // AKS diagnostic settings: {"records":[...]}, properties.log a string
  kGke,                     // GKE Cloud Audit LogEntry per record (a different schema, converted)
};

std::vector<std::string> EnvelopeRecords(Envelope kind) {
  const std::vector<std::string> events = RealisticEvents();
  std::vector<std::string> records;
  switch (kind) {
    case kBare:
      return events;
    case kCloudWatchEntry: {
      int i = 0;
      for (const auto& e : events) {
        records.push_back(
            R"({"logStreamName":"kube-apiserver-audit-6b8e3f1c0d2a4e5f9a7b","timestamp":1793523600)" +
            std::to_string(100 + i) + R"(,"message":)" + Quote(e) +
            R"(,"ingestionTime":1793523601)" + std::to_string(200 + i) +
            R"(,"eventId":"3811963512345678901234567890123456789012345678901234)" +
            std::to_string(1000 + i) + R"("})");
        ++i;
      }
      return records;
    }
    case kCloudWatchSubscription: {
      std::string r =
          R"({"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/eks/prod-1/cluster","logStream":"kube-apiserver-audit-6b8e3f1c0d2a4e5f9a7b","subscriptionFilters":["vigil"],"logEvents":[)";
      int i = 0;
      for (const auto& e : events) {
        if (i) r += ",";
        r += R"({"id":"3811963512345678901234567890123456789012345678901234)" +
             std::to_string(1000 + i) + R"(","timestamp":1793523600)" + std::to_string(100 + i) +
             R"(,"message":)" + Quote(e) + "}";
        ++i;
      }
      r += "]}";
      return {r};
    }
    case kAksRecords: {
      std::string r = R"({"records":[)";
      int i = 0;
      for (const auto& e : events) {
        if (i) r += ",";
        r +=
            R"({"operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read","category":"kube-audit","ccpNamespace":"65f1a2b3c4d5e6f7a8b9c0d1","resourceId":"/SUBSCRIPTIONS/0A1B2C3D-4E5F-6A7B-8C9D-0E1F2A3B4C5D/RESOURCEGROUPS/PROD/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD-1","properties":{"log":)" +
            Quote(e) +
            R"(,"stream":"stdout","pod":"kube-apiserver-7c9d8f6b5-x2k4q","containerID":"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"},"time":"2026-11-02T09:00:0)" +
            std::to_string(i) + R"(.0000000Z","Cloud":"AzureCloud","Environment":"prod"})";
        ++i;
      }
      r += "]}";
      return {r};
    }
    case kGke:
      return GkeLogEntries();
  }
  return records;
}

const char* EnvelopeName(Envelope kind) {
  switch (kind) {
    case kBare:
      return "bare";
    case kCloudWatchEntry:
      return "eks_cloudwatch_entry";
    case kCloudWatchSubscription:
      return "eks_cloudwatch_subscription";
    case kAksRecords:
      return "aks_records";
    case kGke:
      return "gke_log_entry";
  }
  return "?";
}

void BM_EnvelopeUnwrap(benchmark::State& state) {
  const auto kind = static_cast<Envelope>(state.range(0));
  state.SetLabel(EnvelopeName(kind));
  const std::vector<std::string> texts = EnvelopeRecords(kind);
  std::vector<simdjson::padded_string> records(texts.begin(), texts.end());
  size_t bytes = 0;
  for (const auto& r : records) bytes += r.size();

  vigil::ingest::EnvelopeDecoder decoder;
  uint64_t delivered = 0;
  auto count = [&](const vigil::AuditEvent& e) {
    benchmark::DoNotOptimize(e.audit_id.data());
    ++delivered;
  };
  // Every record must decode to events, or the row would time the error path.
  for (const auto& r : records) {
    vigil::ingest::DecodeResult res =
        decoder.Decode(r.data(), r.size(), r.size() + simdjson::SIMDJSON_PADDING, count);
    if (res.events == 0 || res.malformed != 0) {
      state.SkipWithError("an envelope record did not decode");
      return;
    }
  }
  const uint64_t per_iteration = delivered;
  for (auto _ : state) {
    for (const auto& r : records) {
      decoder.Decode(r.data(), r.size(), r.size() + simdjson::SIMDJSON_PADDING, count);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(per_iteration));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.counters["record_bytes_per_event"] =
      static_cast<double>(bytes) / static_cast<double>(per_iteration);
}
BENCHMARK(BM_EnvelopeUnwrap)
    ->ArgName("envelope")
    ->Arg(kBare)
    ->Arg(kCloudWatchEntry)
    ->Arg(kCloudWatchSubscription)
    ->Arg(kAksRecords)
    ->Arg(kGke)
    ->MinTime(0.3);

// ---------------------------------------------------------------------------------------------
// 2. Rule evaluation on events parsed beforehand (ParsedEvents): parsing is not timed.

const vigil::detect::RuleSet* BuiltinPack() {
  static const auto pack = vigil::detect::LoadBuiltinPack();
  return pack.ok() ? &pack.value() : nullptr;
}

ParsedEvents& RuleBenchEvents() {
  static ParsedEvents events(BenchEvents());
  return events;
}

void RunRuleBench(benchmark::State& state, const vigil::detect::RuleSet& rules) {
  auto compiled = vigil::detect::RuleEngine::Compile(rules);
  if (!compiled.ok()) {
    state.SkipWithError(compiled.status().ToString().c_str());
    return;
  }
  vigil::detect::RuleEngine& engine = **compiled;
  ParsedEvents& events = RuleBenchEvents();
  if (events.size() == 0) {
    state.SkipWithError("no event parsed");
    return;
  }
  std::vector<vigil::Finding> findings;
  uint64_t raised = 0;
  for (auto _ : state) {
    for (const auto& e : events.events()) {
      engine.Evaluate(e, &findings);  // stateless: stateful rules are skipped
      raised += findings.size();
      findings.clear();
    }
  }
  const double evaluated = static_cast<double>(state.iterations()) * events.size();
  state.SetItemsProcessed(static_cast<int64_t>(evaluated));
  state.counters["rules"] = static_cast<double>(rules.rules.size());
  state.counters["findings_per_event"] = evaluated > 0 ? raised / evaluated : 0;
  // Conditions the (verb, resource) index let through, per event.
  state.counters["conditions_per_event"] =
      evaluated > 0 ? static_cast<double>(engine.evaluated_rule_count()) / evaluated : 0;
}

// (a) One rule: k8s.exec_into_pod alone.
void BM_RuleEvalOneRule(benchmark::State& state) {
  const vigil::detect::RuleSet* pack = BuiltinPack();
  if (pack == nullptr) {
    state.SkipWithError("the built-in pack does not load");
    return;
  }
  vigil::detect::RuleSet one;
  for (const auto& rule : pack->rules) {
    if (rule.id == "k8s.exec_into_pod") one.rules.push_back(rule);
  }
  if (one.rules.size() != 1) {
    state.SkipWithError("k8s.exec_into_pod is not in the built-in pack");
    return;
  }
  RunRuleBench(state, one);
}
BENCHMARK(BM_RuleEvalOneRule)->MinTime(0.3);

// (b) The whole built-in pack, stateless Evaluate (its stateful rules are skipped).
void BM_RuleEvalBuiltinPack(benchmark::State& state) {
  const vigil::detect::RuleSet* pack = BuiltinPack();
  if (pack == nullptr) {
    state.SkipWithError("the built-in pack does not load");
    return;
  }
  RunRuleBench(state, *pack);
}
BENCHMARK(BM_RuleEvalBuiltinPack)->MinTime(0.3);

// ---------------------------------------------------------------------------------------------
// 3. State update: the whole built-in pack in a StatefulDetector over a MemoryStateStore, fed
// events that hit its stateful rules: `users` identities (one source IP each) take turns; each
// sends, in order, an allowed secret get (20 secret names in rotation), a denied secret get, a
// denied list of namespaces, an allowed list of pods and an exec into a pod. Event time
// advances 1 ms per event and every event gets a new auditID (else dedup would skip it), by
// patching the parsed templates in place (a few stores, in the timed loop). Within a run the
// new_terms rules only learn (24 h learning period); thresholds, distinct counts and sequences
// fire. One iteration is one event; checkpoints (commit to the in-memory store) are taken when
// checkpoint_due() and are timed. Args: users, cache MB (a small cache makes the detector read
// the store: cache_misses).

std::vector<std::string> StatefulTemplates() {
  auto event = [](std::string_view verb, std::string_view uri, std::string_view object_ref,
                  int code, std::string_view decision) {
    return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"t","stage":"ResponseComplete","requestURI":")" +
           std::string(uri) + R"(","verb":")" + std::string(verb) +
           R"(","user":{"username":"u","groups":["developers","system:authenticated"]},"sourceIPs":["192.0.2.1"],"userAgent":"kubectl/v1.29.3 (linux/amd64) kubernetes/6813625","objectRef":)" +
           std::string(object_ref) + R"(,"responseStatus":{"metadata":{},"code":)" +
           std::to_string(code) +
           R"(},"requestReceivedTimestamp":"2026-11-02T09:00:00.000000Z","stageTimestamp":"2026-11-02T09:00:00.002000Z","annotations":{"authorization.k8s.io/decision":")" +
           std::string(decision) + R"(","authorization.k8s.io/reason":""}})";
  };
  return {
      event("get", "/api/v1/namespaces/payments/secrets/s",
            R"({"resource":"secrets","namespace":"payments","name":"s","apiVersion":"v1"})", 200,
            "allow"),
      event("get", "/api/v1/namespaces/prod/secrets/s",
            R"({"resource":"secrets","namespace":"prod","name":"s","apiVersion":"v1"})", 403,
            "forbid"),
      event("list", "/api/v1/namespaces", R"({"resource":"namespaces","apiVersion":"v1"})", 403,
            "forbid"),
      event("list", "/api/v1/namespaces/payments/pods?limit=500",
            R"({"resource":"pods","namespace":"payments","apiVersion":"v1"})", 200, "allow"),
      event(
          "create",
          "/api/v1/namespaces/payments/pods/web-1a2b/exec?command=sh&container=web&stdin=true&"
          "stdout=true&tty=true",
          R"({"resource":"pods","namespace":"payments","name":"web-1a2b","apiVersion":"v1","subresource":"exec"})",
          101, "allow"),
  };
}

void BM_StatefulUpdate(benchmark::State& state) {
  const size_t users = static_cast<size_t>(state.range(0));
  const size_t cache_mb = static_cast<size_t>(state.range(1));
  const vigil::detect::RuleSet* pack = BuiltinPack();
  if (pack == nullptr) {
    state.SkipWithError("the built-in pack does not load");
    return;
  }
  auto compiled = vigil::detect::RuleEngine::Compile(*pack);
  if (!compiled.ok()) {
    state.SkipWithError(compiled.status().ToString().c_str());
    return;
  }
  ParsedEvents templates(StatefulTemplates());
  if (templates.size() != 5) {
    state.SkipWithError("a stateful template does not parse");
    return;
  }
  std::vector<std::string> names, ips;
  names.reserve(users);
  ips.reserve(users);
  for (size_t u = 0; u < users; ++u) {
    names.push_back("user-" + std::to_string(u) + "@example.com");
    ips.push_back("198.18." + std::to_string(u / 250 % 256) + "." + std::to_string(u % 250 + 1));
  }
  std::vector<std::string> secrets;
  for (int i = 0; i < 20; ++i) secrets.push_back("app-secret-" + std::to_string(i));

  vigil::MemoryStateStore store;
  vigil::detect::StatefulOptions options;
  options.cache_bytes = cache_mb << 20;
  vigil::detect::StatefulDetector detector(std::move(compiled).value(), &store, options);
  std::vector<vigil::Finding> findings;
  vigil::StateCheckpoint cp;
  char id[32] = "bench-";
  const int64_t t0 = templates.events()[0].request_received_us;
  uint64_t n = 0;
  uint64_t raised = 0;
  for (auto _ : state) {
    vigil::AuditEvent& e = templates.events()[n % 5];
    const size_t user = (n / 5) % users;
    e.user.username = names[user];
    e.source_ips[0] = ips[user];
    if (n % 5 == 0) e.object_ref.name = secrets[(n / 5 / users) % secrets.size()];
    char* end = std::to_chars(id + 6, id + sizeof(id), n).ptr;
    e.audit_id = std::string_view(id, static_cast<size_t>(end - id));
    e.request_received_us = t0 + static_cast<int64_t>(n) * 1000;
    e.stage_us = e.request_received_us + 2000;
    detector.Evaluate(e, &findings);
    raised += findings.size();
    findings.clear();
    if (detector.checkpoint_due()) {
      cp.clear();
      detector.Checkpoint(&cp);
      if (!store.Commit(cp).ok()) {
        state.SkipWithError("MemoryStateStore commit failed");
        return;
      }
      detector.Committed();
    }
    ++n;
  }
  if (!detector.status().ok()) {
    state.SkipWithError(detector.status().ToString().c_str());
    return;
  }
  const vigil::detect::StatefulStats& st = detector.stats();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["cache_hits"] = static_cast<double>(st.cache_hits);
  state.counters["cache_misses"] = static_cast<double>(st.cache_misses);
  const double lookups = static_cast<double>(st.cache_hits + st.cache_misses);
  state.counters["hit_ratio"] = lookups > 0 ? st.cache_hits / lookups : 0;
  state.counters["stateful_hits_per_event"] =
      n > 0 ? static_cast<double>(st.hits) / static_cast<double>(n) : 0;
  state.counters["findings"] = static_cast<double>(raised);
  state.counters["checkpoints"] = static_cast<double>(st.checkpoints);
}
BENCHMARK(BM_StatefulUpdate)
    ->ArgNames({"users", "cache_mb"})
    ->Args({1000, 64})
    ->Args({10000, 64})
    ->Args({10000, 1})
    ->MinTime(0.3);

// ---------------------------------------------------------------------------------------------
// 4. RocksDB checkpoint: RocksDbFindingStore::Commit of a StateCheckpoint with N state entries
// (the same N keys each time, new values: state updated in place) and N dedup keys (new
// auditIDs each time), sync writes (the store's default: one fsync of the WAL per commit). The
// store lives in a mkdtemp directory under $TMPDIR (or /tmp), removed at the end. Wall time,
// since the fsync is not CPU. Items are entries (state + dedup = 2N per commit).

std::string TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/vigil-micro-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) return {};
  return templ;
}

void BM_RocksDbCheckpoint(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const std::string dir = TempDir();
  if (dir.empty()) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  {
    auto opened = vigil::store::RocksDbFindingStore::Open(dir + "/db");  // sync_writes = true
    if (!opened.ok()) {
      state.SkipWithError(opened.status().ToString().c_str());
    } else {
      vigil::store::RocksDbFindingStore& store = **opened;
      const int64_t expires = int64_t{1'800'000'000} * 1'000'000;
      vigil::StateCheckpoint cp;
      for (size_t i = 0; i < n; ++i) {
        cp.state.emplace_back(vigil::MakeStateKey("k8s.bulk_secret_reads", "prod-1",
                                                  "user-" + std::to_string(i) + "@example.com"),
                              std::string());
        cp.dedup.emplace_back(std::string(), std::string());
        vigil::PutExpiry(expires, &cp.dedup.back().second);
      }
      cp.meta.emplace_back("watermark\x1fprod-1", std::string());
      uint64_t round = 0;
      size_t bytes = 0;
      auto refill = [&] {
        bytes = 0;
        for (size_t i = 0; i < n; ++i) {
          std::string& v = cp.state[i].second;
          v.clear();
          vigil::PutExpiry(expires, &v);
          // Roughly a distinct operator's window: a start time, a count and a few values.
          v += "w:1793523600000000;n:" + std::to_string(round % 15 + 1) +
               ";v:app-secret-1,app-secret-7,payments-db-credentials";
          cp.dedup[i].first = vigil::MakeDedupKey(
              "prod-1", "5c2a9d7e-" + std::to_string(round) + "-" + std::to_string(i),
              "ResponseComplete");
          bytes += cp.state[i].first.size() + v.size() + cp.dedup[i].first.size() +
                   cp.dedup[i].second.size();
        }
        cp.meta[0].second = std::to_string(1793523600000000 + round);
        ++round;
      };
      uint64_t committed_bytes = 0;
      for (auto _ : state) {
        state.PauseTiming();
        refill();
        state.ResumeTiming();
        vigil::Status s = store.Commit(cp);
        if (!s.ok()) {
          state.SkipWithError(s.ToString().c_str());
          break;
        }
        committed_bytes += bytes;
      }
      state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(2 * n));
      state.SetBytesProcessed(static_cast<int64_t>(committed_bytes));
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
BENCHMARK(BM_RocksDbCheckpoint)
    ->ArgName("entries")
    ->Arg(1000)
    ->Arg(10000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);

}  // namespace

BENCHMARK_MAIN();
