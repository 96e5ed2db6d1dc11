// state_scale: does stateful detection stay within its memory budget at scale? Synthesises a
// deterministic audit workload (default 1M identities over 100 clusters, 3 events each), runs
// the built-in pack in a StatefulDetector over a RocksDbFindingStore, checkpointing like the
// replay pipeline, and reports throughput, peak RSS (also at every 10 %), cache and disk state.
//
//   state_scale [--identities N] [--clusters C] [--events E] [--cache-mb M]
//               [--checkpoint-events K] [--db DIR] [--seed S] [--learning-minutes L]
//               [--compare 16,64]
//
// --compare runs the same workload once per cache size, each in its own child process (peak RSS
// is per process), and prints the results side by side.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vigil/core/audit_event.h"
#include "vigil/core/finding.h"
#include "vigil/core/state_store.h"
#include "vigil/detect/rule_engine.h"
#include "vigil/detect/rule_files.h"
#include "vigil/detect/stateful_detector.h"
#include "vigil/ingest/audit_event_parser.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace {

// Like app/src/pipeline.cc: a checkpoint is also taken when this many distinct findings wait.
constexpr size_t kFlushFindings = 1000;
constexpr int kSamples = 10;  // progress samples (every 10 %)

struct Flags {
  uint64_t identities = 1'000'000;
  uint64_t clusters = 100;
  uint64_t events = 0;  // 0: 3 x identities
  uint64_t cache_mb = 64;
  uint64_t checkpoint_events = 50'000;
  std::string db;
  uint64_t seed = 42;
  uint64_t learning_minutes = 0;  // 0: the rules' own learning periods (24 h)
  // A checkpoint asked for by checkpoint_due() is taken only once this many events passed since
  // the last one. 0 (default): at once, as app/src/pipeline.cc does.
  uint64_t due_min_events = 0;
  std::vector<uint64_t> compare;  // cache sizes (MB) to run side by side
};

// What one run measured; plain data so that a child process can send it through a pipe.
struct RunResult {
  bool ok = false;
  uint64_t cache_mb = 0;
  uint64_t events = 0;
  double wall_s = 0;
  double cpu_s = 0;
  double checkpoint_s = 0;
  uint64_t checkpoints = 0;
  std::array<double, kSamples> peak_rss_mb{};  // ru_maxrss at 10 %, 20 %, ... 100 %
  std::array<double, kSamples> rss_mb{};       // current RSS at the same points
  std::array<double, kSamples> cache_used_mb{};
  double final_peak_rss_mb = 0;  // after Flush + CompactAll
  uint64_t cache_bytes = 0;
  uint64_t cache_entries = 0;
  uint64_t evictions = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t hits = 0;
  uint64_t stateful_findings = 0;
  uint64_t duplicates = 0;
  uint64_t late = 0;
  uint64_t finding_updates = 0;   // findings emitted by Evaluate (before aggregation)
  uint64_t findings_written = 0;  // aggregated findings committed (sum over checkpoints)
  uint64_t findings_approx = 0;   // store CountApprox at the end
  uint64_t state_keys = 0;
  uint64_t dedup_keys = 0;
  uint64_t disk_bytes = 0;
  uint64_t disk_bytes_before_compact = 0;
};

// ---- small utilities ------------------------------------------------------------------------

double PeakRssMb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

double CurrentRssMb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// xorshift-style generator; deterministic for a seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(SplitMix64(seed) | 1) {}
  uint64_t Next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_;
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
  bool Percent(uint64_t p) { return Below(100) < p; }

 private:
  uint64_t s_;
};

uint64_t Gcd(uint64_t a, uint64_t b) {
  while (b != 0) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

void AppendPadded(uint64_t v, int width, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  for (int i = static_cast<int>(r.ptr - buf); i < width; ++i) out->push_back('0');
  out->append(buf, r.ptr);
}

void AppendHex(uint64_t v, int digits, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out->push_back(kHex[(v >> (4 * i)) & 0xf]);
}

// Days since 1970-01-01 to (y, m, d) (H. Hinnant's civil_from_days).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

// RFC 3339 with microseconds, UTC.
void AppendTimestamp(int64_t us, std::string* out) {
  const int64_t secs = us / 1'000'000;
  const int64_t days = secs / 86400;
  const int64_t sod = secs % 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  AppendPadded(static_cast<uint64_t>(y), 4, out);
  out->push_back('-');
  AppendPadded(m, 2, out);
  out->push_back('-');
  AppendPadded(d, 2, out);
  out->push_back('T');
  AppendPadded(static_cast<uint64_t>(sod / 3600), 2, out);
  out->push_back(':');
  AppendPadded(static_cast<uint64_t>(sod / 60 % 60), 2, out);
  out->push_back(':');
  AppendPadded(static_cast<uint64_t>(sod % 60), 2, out);
  out->push_back('.');
  AppendPadded(static_cast<uint64_t>(us % 1'000'000), 6, out);
  out->push_back('Z');
}

// ---- the workload ---------------------------------------------------------------------------

// 2026-11-02T00:00:00Z, the date the rule tests use.
constexpr int64_t kBaseUs = int64_t{1793577600} * 1'000'000;
constexpr int64_t kStepUs = 1000;  // event time advances 1 ms per event

const char* const kUserAgents[] = {
    "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "argocd-application-controller/v2.10.1",
    "terraform-provider-kubernetes/2.25.2",
    "helm/v3.14.0 (linux/amd64)",
};
const char* const kOddAgents[] = {"curl/8.5.0", "kubectl/v1.30.1 (darwin/arm64) kubernetes/7c48c2b",
                                  "PostmanRuntime/7.36.0"};
const char* const kDiscovery[] = {"namespaces",   "nodes",        "pods",       "roles",
                                  "rolebindings", "clusterroles", "configmaps", "serviceaccounts"};
const char* const kDeniedResources[] = {
    "secrets", "nodes", "clusterroles", "daemonsets", "persistentvolumes", "clusterrolebindings"};

struct Request {
  std::string_view verb;
  std::string_view resource;
  std::string_view api_group;  // empty: core
  std::string_view subresource;
  std::string ns;    // empty: cluster-scoped
  std::string name;  // empty: a collection
  int code = 200;
};

void AppendPath(const Request& r, std::string* out) {
  if (r.api_group.empty()) {
    out->append("/api/v1");
  } else {
    out->append("/apis/").append(r.api_group).append("/v1");
  }
  if (!r.ns.empty()) out->append("/namespaces/").append(r.ns);
  out->push_back('/');
  out->append(r.resource);
  if (!r.name.empty()) out->append("/").append(r.name);
  if (!r.subresource.empty()) out->append("/").append(r.subresource);
}

// Builds event number `j` (of identity `id`) as audit Event JSON into *out.
class Workload {
 public:
  Workload(const Flags& f) : flags_(f), rng_(f.seed) {
    // Pass p visits every identity once, in the order (j * stride_p + offset_p) mod N.
    for (int p = 0; p < 16; ++p) {
      uint64_t stride = 1 + SplitMix64(f.seed * 131 + p) % f.identities;
      while (Gcd(stride, f.identities) != 1) ++stride;
      strides_.push_back(stride % f.identities == 0 ? 1 : stride);
      offsets_.push_back(SplitMix64(f.seed * 977 + p) % f.identities);
    }
  }

  uint64_t IdentityOf(uint64_t j) const {
    const uint64_t n = flags_.identities;
    const uint64_t pass = j / n;
    const uint64_t k = j % n;
    const size_t p = pass % strides_.size();
    return static_cast<uint64_t>((static_cast<unsigned __int128>(k) * strides_[p] + offsets_[p]) %
                                 n);
  }

  // Returns the event's cluster index.
  uint64_t Make(uint64_t j, std::string* out) {
    const uint64_t id = IdentityOf(j);
    const uint64_t h = SplitMix64(id ^ (flags_.seed << 32));  // the identity's fixed traits
    const uint64_t cluster = id % flags_.clusters;
    const bool sa = h % 100 < 30;  // 30 % ServiceAccounts, 70 % people
    std::string home_ns = "team-";
    AppendUint((h >> 8) % 40, &home_ns);

    std::string user;
    if (sa) {
      user = "system:serviceaccount:" + home_ns + ":sa-";
      AppendUint(id, &user);
    } else {
      user = "user-";
      AppendUint(id, &user);
      user += "@example.com";
    }
    // Home IP: people mostly from public egress addresses, ServiceAccounts from pod IPs.
    std::string ip;
    auto octets = [&ip](uint64_t a, uint64_t v) {
      AppendUint(a, &ip);
      for (int i = 2; i >= 0; --i) {
        ip.push_back('.');
        AppendUint((v >> (8 * i)) & 0xff, &ip);
      }
    };
    if (sa) {
      if (rng_.Percent(10)) {
        octets(34, rng_.Next() & 0xffffff);  // token used from varied public addresses
      } else {
        octets(10, (h >> 16) & 0xffffff);
      }
    } else if ((h >> 40) % 100 < 60) {
      octets(35, (h >> 16) & 0xffffff);
    } else {
      octets(10, (h >> 16) & 0xffffff);
    }
    std::string_view ua = kUserAgents[(h >> 20) % std::size(kUserAgents)];
    if (rng_.Percent(8)) ua = kOddAgents[rng_.Below(std::size(kOddAgents))];

    Request r;
    r.ns = home_ns;
    const uint64_t roll = rng_.Below(100);
    if (roll < 30) {  // read pods
      r.verb = rng_.Percent(50) ? "get" : "list";
      r.resource = "pods";
      if (r.verb == "get") r.name = "app-" + std::to_string(rng_.Below(50));
    } else if (roll < 42) {  // discovery
      r.verb = "list";
      r.resource = kDiscovery[rng_.Below(std::size(kDiscovery))];
      if (r.resource == "namespaces" || r.resource == "nodes" || r.resource == "clusterroles") {
        r.ns.clear();
      }
    } else if (roll < 50) {  // secret reads, varied names
      r.verb = rng_.Percent(80) ? "get" : "list";
      r.resource = "secrets";
      if (r.verb == "get") r.name = "secret-" + std::to_string(rng_.Below(40));
    } else if (roll < 60) {  // denied
      r.verb = rng_.Percent(60) ? "get" : "list";
      r.resource = kDeniedResources[rng_.Below(std::size(kDeniedResources))];
      if (r.resource != "secrets") r.ns.clear();
      if (r.resource == "daemonsets") {
        r.api_group = "apps";
        r.ns = "kube-system";
      }
      if (r.resource == "clusterroles" || r.resource == "clusterrolebindings") {
        r.api_group = "rbac.authorization.k8s.io";
      }
      if (r.verb == "get") r.name = "x-" + std::to_string(rng_.Below(1000));
      r.code = rng_.Percent(85) ? 403 : 401;
    } else if (roll < 64) {  // workload changes
      r.verb = rng_.Percent(70) ? "patch" : "update";
      r.resource = "deployments";
      r.api_group = "apps";
      r.name = "web-" + std::to_string(rng_.Below(10));
    } else if (roll < 66) {  // exec
      r.verb = "create";
      r.resource = "pods";
      r.subresource = "exec";
      r.name = "app-" + std::to_string(rng_.Below(50));
      r.code = 101;
    } else if (roll < 74) {  // watch
      r.verb = "watch";
      r.resource = rng_.Percent(50) ? "pods" : "configmaps";
    } else if (roll < 76) {  // RBAC change
      r.verb = "create";
      r.resource = "rolebindings";
      r.api_group = "rbac.authorization.k8s.io";
      r.name = "rb-" + std::to_string(rng_.Below(100));
      r.code = 201;
    } else if (roll < 78) {  // TokenRequest for a ServiceAccount of the namespace
      r.verb = "create";
      r.resource = "serviceaccounts";
      r.subresource = "token";
      r.name = "sa-" + std::to_string(rng_.Below(flags_.identities));
      r.code = 201;
    } else if (roll < 79) {  // CSR
      r.verb = "create";
      r.resource = "certificatesigningrequests";
      r.api_group = "certificates.k8s.io";
      r.ns.clear();
      r.name = "csr-" + std::to_string(j);
      r.code = 201;
    } else {  // the rest: configmaps, services, events
      static const char* const kMisc[] = {"configmaps", "services", "events", "endpoints"};
      r.verb = rng_.Percent(70) ? "get" : "list";
      r.resource = kMisc[rng_.Below(std::size(kMisc))];
      if (r.verb == "get") r.name = "cfg-" + std::to_string(rng_.Below(20));
    }
    if (r.code < 300 && rng_.Percent(3)) r.code = 403;  // a few denials everywhere

    const int64_t t = kBaseUs + static_cast<int64_t>(j) * kStepUs;
    out->clear();
    out->append(R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":")");
    const uint64_t a = SplitMix64(j ^ (flags_.seed * 0x2545f4914f6cdd1dULL));
    AppendHex(a >> 32, 8, out);
    out->push_back('-');
    AppendHex(a >> 16, 4, out);
    out->append("-4");
    AppendHex(a, 3, out);
    out->append("-8");
    AppendHex(a >> 40, 3, out);
    out->push_back('-');
    AppendHex(j, 12, out);  // unique per event
    out->append(R"(","stage":"ResponseComplete","requestURI":")");
    AppendPath(r, out);
    out->append(R"(","verb":")").append(r.verb);
    out->append(R"(","user":{"username":")").append(user);
    out->append(sa ? R"(","groups":["system:serviceaccounts","system:authenticated"]},)"
                   : R"(","groups":["developers","system:authenticated"]},)");
    out->append(R"("sourceIPs":[")").append(ip);
    out->append(R"("],"userAgent":")").append(ua);
    out->append(R"(","objectRef":{"resource":")").append(r.resource).push_back('"');
    if (!r.ns.empty()) out->append(R"(,"namespace":")").append(r.ns).push_back('"');
    if (!r.name.empty()) out->append(R"(,"name":")").append(r.name).push_back('"');
    if (!r.api_group.empty()) out->append(R"(,"apiGroup":")").append(r.api_group).push_back('"');
    out->append(R"(,"apiVersion":"v1")");
    if (!r.subresource.empty()) {
      out->append(R"(,"subresource":")").append(r.subresource).push_back('"');
    }
    out->append(R"(},"responseStatus":{"metadata":{},"code":)");
    AppendUint(static_cast<uint64_t>(r.code), out);
    out->append(R"(},"requestReceivedTimestamp":")");
    AppendTimestamp(t, out);
    out->append(R"(","stageTimestamp":")");
    AppendTimestamp(t + 4000, out);
    out->append(R"(","annotations":{"authorization.k8s.io/decision":")");
    out->append(r.code == 401 || r.code == 403 ? "forbid" : "allow");
    out->append(R"("}})");
    return cluster;
  }

 private:
  const Flags& flags_;
  Rng rng_;
  std::vector<uint64_t> strides_;
  std::vector<uint64_t> offsets_;
};

// ---- one run --------------------------------------------------------------------------------

void Aggregate(const vigil::Finding& f, vigil::Finding* into) {
  into->first_seen_us = std::min(into->first_seen_us, f.first_seen_us);
  into->last_seen_us = std::max(into->last_seen_us, f.last_seen_us);
  into->count += f.count;
  for (const std::string& e : f.evidence) {
    if (into->evidence.size() >= vigil::Finding::kMaxEvidence) break;
    into->evidence.push_back(e);
  }
}

RunResult Run(const Flags& flags, const std::string& tag) {
  RunResult res;
  res.cache_mb = flags.cache_mb;
  const uint64_t total = flags.events;
  auto say = [&tag](const char* name, const std::string& value) {
    std::printf("%s%-28s %s\n", tag.c_str(), name, value.c_str());
  };
  auto num = [](double v, int prec = 2) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return std::string(buf);
  };

  // The store: a fresh temp dir unless --db.
  std::string dir = flags.db;
  bool temp = false;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ =
        std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/vigil-state-scale-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      return res;
    }
    dir = templ;
    temp = true;
  }
  vigil::store::StoreOptions sopts;
  sopts.sync_writes = false;  // a benchmark: no fsync per checkpoint
  auto opened = vigil::store::RocksDbFindingStore::Open(dir, sopts);
  if (!opened.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), opened.status().ToString().c_str());
    return res;
  }
  std::unique_ptr<vigil::store::RocksDbFindingStore> store = std::move(opened).value();

  auto pack = vigil::detect::LoadBuiltinPack();
  if (!pack.ok()) {
    std::fprintf(stderr, "built-in pack: %s\n", pack.status().ToString().c_str());
    return res;
  }
  auto engine = vigil::detect::RuleEngine::Compile(*pack);
  if (!engine.ok()) {
    std::fprintf(stderr, "compile: %s\n", engine.status().ToString().c_str());
    return res;
  }
  size_t stateful_rules = 0;
  for (const auto& r : (*engine)->rule_defs()) stateful_rules += r.stateful ? 1 : 0;
  const size_t rule_count = (*engine)->rule_defs().size();
  vigil::detect::StatefulOptions dopts;
  dopts.cache_bytes = static_cast<size_t>(flags.cache_mb) << 20;
  if (flags.learning_minutes > 0) {
    dopts.learning_override_us = static_cast<int64_t>(flags.learning_minutes) * 60 * 1'000'000;
  }
  vigil::detect::StatefulDetector detector(std::move(engine).value(), store.get(), dopts);

  say("db", dir + (temp ? " (temp, removed at exit)" : ""));
  say("store", "sync_writes=false (no fsync), block_cache=" +
                   std::to_string(sopts.block_cache_bytes >> 20) + "MB");
  say("commit", "synchronous Commit() then Committed() (the pipeline commits on a thread)");
  say("findings merge",
      "aggregated per checkpoint by id (count sum); no read-modify-write "
      "merge with stored findings");
  say("rules", std::to_string(rule_count) + " (" + std::to_string(stateful_rules) + " stateful)");
  say("workload", std::to_string(flags.identities) + " identities, " +
                      std::to_string(flags.clusters) + " clusters, " + std::to_string(total) +
                      " events, seed " + std::to_string(flags.seed) + ", 1 ms event time/event");
  say("learning", flags.learning_minutes > 0
                      ? std::to_string(flags.learning_minutes) + " min (override)"
                      : std::string("rules' own (24h: new_terms only learn in this run)"));
  say("cache budget MB", std::to_string(flags.cache_mb));
  say("checkpoint policy",
      "every " + std::to_string(flags.checkpoint_events) + " events, or " +
          std::to_string(kFlushFindings) + " pending findings, or checkpoint_due()" +
          (flags.due_min_events > 0
               ? " once " + std::to_string(flags.due_min_events) + " events passed (rate-limited)"
               : std::string(" (at once, like the pipeline)")));
  std::fflush(stdout);

  std::vector<std::string> cluster_names;
  for (uint64_t c = 0; c < flags.clusters; ++c) {
    cluster_names.push_back("cluster-" + std::to_string(c));
  }
  Workload workload(flags);
  vigil::ingest::AuditEventParser parser;
  vigil::ingest::ParseReport report;
  vigil::AuditEvent event;
  std::string json;
  json.reserve(2048);
  std::vector<vigil::Finding> fresh;
  std::unordered_map<std::string, vigil::Finding> pending;
  std::unordered_map<std::string, uint64_t> by_rule;  // finding updates per rule id
  uint64_t since = 0;
  bool failed = false;

  auto checkpoint = [&]() -> bool {
    if (!detector.status().ok()) {
      std::fprintf(stderr, "detector: %s\n", detector.status().ToString().c_str());
      return false;
    }
    const auto c0 = std::chrono::steady_clock::now();
    vigil::StateCheckpoint cp;
    cp.findings.reserve(pending.size());
    for (auto& [id, f] : pending) cp.findings.push_back(std::move(f));
    res.findings_written += pending.size();
    pending.clear();
    detector.Checkpoint(&cp);
    vigil::Status s = store->Commit(cp);
    if (s.ok()) detector.Committed();  // now it may forget dedup keys and evict clean state
    res.checkpoint_s +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
    ++res.checkpoints;
    since = 0;
    if (!s.ok()) {
      std::fprintf(stderr, "commit: %s\n", s.ToString().c_str());
      return false;
    }
    return true;
  };

  const double cpu0 = CpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  int next_sample = 1;
  for (uint64_t j = 0; j < total; ++j) {
    const uint64_t c = workload.Make(j, &json);
    report.Clear();
    vigil::Status ps = parser.Parse(json, &event, &report);
    if (!ps.ok()) {
      std::fprintf(stderr, "event %" PRIu64 " did not parse: %s\n%s\n", j, ps.ToString().c_str(),
                   json.c_str());
      failed = true;
      break;
    }
    event.cluster = cluster_names[c];
    fresh.clear();
    detector.Evaluate(event, &fresh);
    for (vigil::Finding& f : fresh) {
      ++res.finding_updates;
      ++by_rule[f.rule_id];
      auto [it, inserted] = pending.try_emplace(f.id);
      if (inserted) {
        it->second = std::move(f);
      } else {
        Aggregate(f, &it->second);
      }
    }
    ++since;
    if (since >= flags.checkpoint_events || pending.size() >= kFlushFindings ||
        (since >= flags.due_min_events && detector.checkpoint_due())) {
      if (!checkpoint()) {
        failed = true;
        break;
      }
    }
    while (next_sample <= kSamples && (j + 1) * kSamples >= total * next_sample) {
      const int i = next_sample - 1;
      const double wall =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const auto& st = detector.stats();
      res.peak_rss_mb[i] = PeakRssMb();
      res.rss_mb[i] = CurrentRssMb();
      res.cache_used_mb[i] = static_cast<double>(st.cache_bytes) / 1048576.0;
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "events=%" PRIu64
                    " wall=%.1fs peak_rss=%.1fMB rss=%.1fMB cache=%.1fMB "
                    "entries=%zu evictions=%" PRIu64 " checkpoints=%" PRIu64,
                    j + 1, wall, res.peak_rss_mb[i], res.rss_mb[i], res.cache_used_mb[i],
                    st.cache_entries, st.evictions, res.checkpoints);
      say(("progress " + std::to_string(next_sample * 10) + "%").c_str(), buf);
      std::fflush(stdout);
      ++next_sample;
    }
    res.events = j + 1;
  }
  if (!failed && !checkpoint()) failed = true;
  res.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.cpu_s = CpuSeconds() - cpu0;

  const auto& st = detector.stats();
  res.cache_bytes = st.cache_bytes;
  res.cache_entries = st.cache_entries;
  res.evictions = st.evictions;
  res.cache_hits = st.cache_hits;
  res.cache_misses = st.cache_misses;
  res.hits = st.hits;
  res.stateful_findings = st.findings;
  res.duplicates = st.duplicates;
  res.late = st.late;

  if (!failed) {
    if (auto b = store->DiskBytes(); b.ok()) res.disk_bytes_before_compact = *b;
    vigil::Status fs = store->Flush();
    vigil::Status cs = fs.ok() ? store->CompactAll() : fs;
    if (!cs.ok()) {
      std::fprintf(stderr, "flush/compact: %s\n", cs.ToString().c_str());
      failed = true;
    }
    if (auto b = store->DiskBytes(); b.ok()) res.disk_bytes = *b;
    if (auto k = store->StateKeysApprox(); k.ok()) res.state_keys = *k;
    if (auto k = store->DedupKeysApprox(); k.ok()) res.dedup_keys = *k;
    if (auto k = store->CountApprox(); k.ok()) res.findings_approx = *k;
  }
  res.final_peak_rss_mb = PeakRssMb();

  const double mb = 1048576.0;
  say("events processed", std::to_string(res.events));
  say("events/s (wall)", num(static_cast<double>(res.events) / res.wall_s, 0));
  say("wall s", num(res.wall_s));
  say("CPU s", num(res.cpu_s));
  say("checkpoints",
      std::to_string(res.checkpoints) + " (" + num(res.checkpoint_s) + " s in them)");
  say("peak RSS MB (run)", num(res.peak_rss_mb[kSamples - 1], 1));
  say("peak RSS MB (+compact)", num(res.final_peak_rss_mb, 1));
  say("cache MB",
      num(static_cast<double>(res.cache_bytes) / mb) + " of " + std::to_string(flags.cache_mb));
  say("cache entries", std::to_string(res.cache_entries));
  say("evictions", std::to_string(res.evictions));
  say("cache hits/misses", std::to_string(res.cache_hits) + "/" + std::to_string(res.cache_misses));
  say("stateful hits", std::to_string(res.hits));
  say("stateful findings", std::to_string(res.stateful_findings));
  say("finding updates", std::to_string(res.finding_updates));
  {
    std::vector<std::pair<uint64_t, std::string>> top;
    for (const auto& [rule, n] : by_rule) top.emplace_back(n, rule);
    std::sort(top.rbegin(), top.rend());
    std::string text;
    for (size_t i = 0; i < top.size() && i < 6; ++i) {
      text += (i ? ", " : "") + top[i].second + "=" + std::to_string(top[i].first);
    }
    say("finding updates by rule", text.empty() ? "-" : text);
  }
  say("findings written", std::to_string(res.findings_written) + " (sum over checkpoints)");
  say("findings (store approx)", std::to_string(res.findings_approx));
  say("duplicates/late", std::to_string(res.duplicates) + "/" + std::to_string(res.late));
  say("state keys (approx)", std::to_string(res.state_keys));
  say("dedup keys (approx)", std::to_string(res.dedup_keys));
  say("disk MB (before compact)", num(static_cast<double>(res.disk_bytes_before_compact) / mb));
  say("disk MB (flush+compact)", num(static_cast<double>(res.disk_bytes) / mb));
  std::printf("%sSUMMARY identities=%" PRIu64 " clusters=%" PRIu64 " events=%" PRIu64
              " cache_mb=%" PRIu64
              " ev_per_s=%.0f cpu_s=%.1f peak_rss_mb=%.1f cache_used_mb=%.1f"
              " cache_entries=%" PRIu64 " evictions=%" PRIu64 " state_keys=%" PRIu64
              " dedup_keys=%" PRIu64 " disk_mb=%.1f findings=%" PRIu64 " %s\n",
              tag.c_str(), flags.identities, flags.clusters, res.events, flags.cache_mb,
              static_cast<double>(res.events) / res.wall_s, res.cpu_s, res.final_peak_rss_mb,
              static_cast<double>(res.cache_bytes) / mb, res.cache_entries, res.evictions,
              res.state_keys, res.dedup_keys, static_cast<double>(res.disk_bytes) / mb,
              res.findings_approx, failed ? "FAILED" : "ok");
  std::fflush(stdout);

  store.reset();
  if (temp) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  res.ok = !failed;
  return res;
}

// Runs `flags` in a child process and returns what it measured.
RunResult RunInChild(const Flags& flags) {
  RunResult res;
  res.cache_mb = flags.cache_mb;
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("pipe");
    return res;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return res;
  }
  if (pid == 0) {
    close(fds[0]);
    RunResult r = Run(flags, "[" + std::to_string(flags.cache_mb) + "MB] ");
    const char* p = reinterpret_cast<const char*>(&r);
    size_t left = sizeof r;
    while (left > 0) {
      ssize_t n = write(fds[1], p, left);
      if (n <= 0) _exit(2);
      p += n;
      left -= static_cast<size_t>(n);
    }
    std::fflush(stdout);
    _exit(r.ok ? 0 : 1);
  }
  close(fds[1]);
  char* p = reinterpret_cast<char*>(&res);
  size_t got = 0;
  while (got < sizeof res) {
    ssize_t n = read(fds[0], p + got, sizeof res - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  if (got != sizeof res) {
    res = RunResult();
    res.cache_mb = flags.cache_mb;
  }
  return res;
}

void PrintComparison(const Flags& flags, const std::vector<RunResult>& runs) {
  const double mb = 1048576.0;
  std::printf("\nside by side: %" PRIu64 " identities, %" PRIu64 " clusters, %" PRIu64
              " events (same workload, one process per cache size)\n",
              flags.identities, flags.clusters, flags.events);
  auto row = [&runs](const char* name, auto fn) {
    std::printf("%-26s", name);
    for (const RunResult& r : runs) std::printf(" %14s", r.ok ? fn(r).c_str() : "FAILED");
    std::printf("\n");
  };
  auto f = [](double v, int prec) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return std::string(buf);
  };
  row("cache budget MB", [](const RunResult& r) { return std::to_string(r.cache_mb); });
  row("events/s", [&](const RunResult& r) { return f(r.events / r.wall_s, 0); });
  row("CPU s", [&](const RunResult& r) { return f(r.cpu_s, 1); });
  for (int i = 0; i < kSamples; ++i) {
    std::string name = "peak RSS MB @" + std::to_string((i + 1) * 10) + "%";
    row(name.c_str(), [&](const RunResult& r) { return f(r.peak_rss_mb[i], 1); });
  }
  for (int i = 0; i < kSamples; ++i) {
    std::string name = "RSS MB @" + std::to_string((i + 1) * 10) + "%";
    row(name.c_str(), [&](const RunResult& r) { return f(r.rss_mb[i], 1); });
  }
  row("peak RSS MB (+compact)", [&](const RunResult& r) { return f(r.final_peak_rss_mb, 1); });
  row("cache used MB (end)", [&](const RunResult& r) { return f(r.cache_bytes / mb, 1); });
  row("cache entries (end)", [](const RunResult& r) { return std::to_string(r.cache_entries); });
  row("evictions", [](const RunResult& r) { return std::to_string(r.evictions); });
  row("cache misses", [](const RunResult& r) { return std::to_string(r.cache_misses); });
  row("checkpoints", [](const RunResult& r) { return std::to_string(r.checkpoints); });
  row("state keys", [](const RunResult& r) { return std::to_string(r.state_keys); });
  row("dedup keys", [](const RunResult& r) { return std::to_string(r.dedup_keys); });
  row("disk MB", [&](const RunResult& r) { return f(r.disk_bytes / mb, 1); });
  row("findings", [](const RunResult& r) { return std::to_string(r.findings_approx); });
}

bool ParseUint(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

int Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--identities N] [--clusters C] [--events E (default 3N)]\n"
               "          [--cache-mb M (64)] [--checkpoint-events K (50000)] [--db DIR]\n"
               "          [--seed S (42)] [--learning-minutes L (0: rules' own)]\n"
               "          [--due-min-events D (0: checkpoint as soon as checkpoint_due())]\n"
               "          [--compare M1,M2,... (cache sizes in MB, one child process each)]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    if (arg == "-h" || arg == "--help") return Usage(argv[0]);
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "%s needs a value\n", argv[i]);
      return Usage(argv[0]);
    }
    bool ok = true;
    if (arg == "--identities") {
      ok = ParseUint(value, &flags.identities) && flags.identities > 0;
    } else if (arg == "--clusters") {
      ok = ParseUint(value, &flags.clusters) && flags.clusters > 0;
    } else if (arg == "--events") {
      ok = ParseUint(value, &flags.events);
    } else if (arg == "--cache-mb") {
      ok = ParseUint(value, &flags.cache_mb);
    } else if (arg == "--checkpoint-events") {
      ok = ParseUint(value, &flags.checkpoint_events) && flags.checkpoint_events > 0;
    } else if (arg == "--db") {
      flags.db = std::string(value);
    } else if (arg == "--seed") {
      ok = ParseUint(value, &flags.seed);
    } else if (arg == "--due-min-events") {
      ok = ParseUint(value, &flags.due_min_events);
    } else if (arg == "--learning-minutes") {
      ok = ParseUint(value, &flags.learning_minutes);
    } else if (arg == "--compare") {
      while (ok && !value.empty()) {
        size_t comma = value.find(',');
        uint64_t v = 0;
        ok = ParseUint(value.substr(0, comma), &v);
        flags.compare.push_back(v);
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
      }
    } else {
      std::fprintf(stderr, "unknown flag %.*s\n", static_cast<int>(arg.size()), arg.data());
      return Usage(argv[0]);
    }
    if (!ok) {
      std::fprintf(stderr, "bad value for %.*s\n", static_cast<int>(arg.size()), arg.data());
      return Usage(argv[0]);
    }
  }
  if (flags.events == 0) flags.events = 3 * flags.identities;

  if (flags.compare.empty()) return Run(flags, "").ok ? 0 : 1;

  if (!flags.db.empty() && flags.compare.size() > 1) {
    std::fprintf(stderr, "--compare with several sizes uses one temp dir per run; drop --db\n");
    return 2;
  }
  std::vector<RunResult> runs;
  bool all_ok = true;
  for (uint64_t mb : flags.compare) {
    Flags f = flags;
    f.cache_mb = mb;
    runs.push_back(RunInChild(f));
    all_ok = all_ok && runs.back().ok;
  }
  PrintComparison(flags, runs);
  return all_ok ? 0 : 1;
}
