// Parse and detection micro-benchmarks, on one core: a simdjson DOM parse of every event (the
// practical ceiling), Vigil's On-Demand AuditEventParser (parse only), and parse + the whole
// built-in rule pack (MakeBuiltinDetector). Compare the rates within one run.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench_events.h"
#include "vigil/detect/detector.h"
#include "vigil/ingest/audit_event_parser.h"

namespace {

// A small realistic mix: kubelet lease update (Metadata), a list by a human, and a pod create at
// RequestResponse level with the pod spec in both bodies.
std::vector<std::string> Events() {
  const std::string lease =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"7e0f2b6c-8a6a-4c39-9f55-3f7a1c2d9b10","stage":"ResponseComplete","requestURI":"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/ip-10-0-0-1.ec2.internal","verb":"update","user":{"username":"system:node:ip-10-0-0-1.ec2.internal","uid":"b1f0","groups":["system:nodes","system:authenticated"]},"sourceIPs":["10.0.3.26"],"userAgent":"kubelet/v1.29.3 (linux/amd64) kubernetes/6813625","objectRef":{"resource":"leases","namespace":"kube-node-lease","name":"ip-10-0-0-1.ec2.internal","apiGroup":"coordination.k8s.io","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-02T09:00:00.000000Z","stageTimestamp":"2026-11-02T09:00:00.004120Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}})";
  const std::string list =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0b6d1e9a-3f0c-4e5b-8d7a-2c9e4f1a6b3d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/pods?limit=500","verb":"list","user":{"username":"alice@example.com","uid":"u-1","groups":["developers","system:authenticated"],"extra":{"iam.gke.io/user-assertion":["abc"],"user-assertion.cloud.google.com":["def"]}},"sourceIPs":["192.0.2.10"],"userAgent":"kubectl/v1.29.3 (linux/amd64) kubernetes/6813625","objectRef":{"resource":"pods","namespace":"payments","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-02T09:00:01.000000Z","stageTimestamp":"2026-11-02T09:00:01.010000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"dev/payments\""}})";
  const std::string pod_spec =
      R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-1a2b","namespace":"payments","labels":{"app":"web"}},"spec":{"serviceAccountName":"default","containers":[{"name":"web","image":"registry.example.com/web:1.42","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"cpu":"500m","memory":"512Mi"}},"env":[{"name":"LOG_LEVEL","value":"info"}],"securityContext":{"runAsNonRoot":true,"allowPrivilegeEscalation":false},"volumeMounts":[{"name":"data","mountPath":"/data"}]}],"volumes":[{"name":"data","emptyDir":{}}]}})";
  const std::string create =
      R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"5c2a9d7e-1b3f-4a6c-9e8d-7f0b2a4c6e81","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/pods","verb":"create","user":{"username":"system:serviceaccount:kube-system:replicaset-controller","uid":"u-2","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"]},"sourceIPs":["172.16.0.10"],"userAgent":"kube-controller-manager/v1.29.3","objectRef":{"resource":"pods","namespace":"payments","name":"web-1a2b","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":)" +
      pod_spec + R"(,"responseObject":)" + pod_spec +
      R"(,"requestReceivedTimestamp":"2026-11-02T09:00:02.000000Z","stageTimestamp":"2026-11-02T09:00:02.030000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}})";
  return {lease, lease, lease, list, create};
}

// The events to measure: the first 20,000 lines of $VIGIL_BENCH_EVENTS (for example a vigil-gen
// log, a realistic mix) when set, else the small built-in mix above.
const std::vector<std::string>& BenchEvents() {
  static const std::vector<std::string> events = vigil::bench::BenchEventsOr(Events());
  return events;
}

size_t TotalBytes(const std::vector<std::string>& events) {
  size_t n = 0;
  for (const auto& e : events) n += e.size();
  return n;
}

void BM_SimdjsonDomCeiling(benchmark::State& state) {
  const auto& events = BenchEvents();
  std::vector<simdjson::padded_string> padded(events.begin(), events.end());
  simdjson::dom::parser parser;
  for (auto _ : state) {
    for (const auto& p : padded) {
      simdjson::dom::element e;
      benchmark::DoNotOptimize(parser.parse(p).get(e));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(TotalBytes(events)));
}
BENCHMARK(BM_SimdjsonDomCeiling);

void BM_VigilParse(benchmark::State& state) {
  const auto& events = BenchEvents();
  vigil::ingest::AuditEventParser parser;
  vigil::AuditEvent event;
  vigil::ingest::ParseReport report;
  for (auto _ : state) {
    for (const auto& e : events) {
      benchmark::DoNotOptimize(parser.Parse(e, &event, &report).ok());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(TotalBytes(events)));
}
BENCHMARK(BM_VigilParse);

void BM_VigilParseAndDetect(benchmark::State& state) {
  const auto& events = BenchEvents();
  vigil::ingest::AuditEventParser parser;
  vigil::AuditEvent event;
  vigil::ingest::ParseReport report;
  auto detector = vigil::detect::MakeBuiltinDetector();
  std::vector<vigil::Finding> findings;
  for (auto _ : state) {
    for (const auto& e : events) {
      if (parser.Parse(e, &event, &report).ok()) detector->Evaluate(event, &findings);
      findings.clear();
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(TotalBytes(events)));
}
BENCHMARK(BM_VigilParseAndDetect);

}  // namespace

BENCHMARK_MAIN();
