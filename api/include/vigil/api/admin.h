// The operator endpoints: GET /v1/rules, POST /v1/rules/reload (admin), GET /v1/stats and
// GET /v1/openapi.yaml. The api room knows neither the rule engine nor the sources: what the
// handlers need comes through the callbacks below, which app wires in `vigil serve`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/api/router.h"
#include "vigil/core/finding_store.h"
#include "vigil/core/ingest_journal.h"
#include "vigil/core/metrics.h"
#include "vigil/core/status.h"

namespace vigil::api {

// One loaded rule as GET /v1/rules shows it.
struct RuleView {
  std::string id;
  std::string name;
  std::string severity;  // SeverityName
  std::string loader;    // "native", "falco", "sigma"
  std::string file;      // where it was loaded from ("" for none); "builtin:..." for the pack
  int line = 0;
  bool stateful = false;
  bool enabled = true;
  std::vector<std::string> attack_ids;
};

struct RuleListing {
  uint64_t generation = 0;  // increases with every successful reload
  std::vector<RuleView> rules;
};

// Both must be set and thread-safe; they are called on the query pool.
struct RuleHooks {
  std::function<RuleListing()> list;
  // Loads and compiles the rules again. On error (message "file:line:col: reason") the previous
  // rules stay active.
  std::function<Status()> reload;
};

// GET /v1/rules (role read): {"generation":N,"rules":[{id,name,severity,loader,file,line,
// stateful,enabled,attack_ids}...]} sorted by id. POST /v1/rules/reload (role admin): 200
// {"rules":N,"generation":G}, 400 with the loader's message when the files are bad.
void RegisterRuleHandlers(RuleHooks hooks, Router* router);

// The state of one live source (Kafka, webhook journal), from ingest's SourceHealth.
struct SourceStatus {
  std::string kind;  // "kafka", "webhook", "multi" (both as one)
  bool ready = false;
  uint64_t lag = 0;  // records known to be waiting
  std::string why;   // when not ready
};

struct StatsOptions {
  const PipelineMetrics* metrics = nullptr;  // events per cluster and source (null: none)
  const FindingStore* findings = nullptr;    // null: no "findings" section
  const IngestJournal* journal = nullptr;    // null: "journal" is null (no webhook)
  // The live sources now (empty between pipeline runs, or when none is configured).
  std::function<std::vector<SourceStatus>()> sources;
  // Findings by rule and severity come from a bounded scan of the newest findings (no counters
  // in the store: it needs no new write path, and a restart needs no recount): at most this many
  // findings are read per request; "complete" says whether that was all of them.
  size_t max_findings_scanned = 10'000;
};

// GET /v1/stats (role read): {"events":{"parsed":N,"by_cluster":{"c":{"kafka":N,...}},
// "by_source":{"kafka":N,...}},"findings":{"scanned":N,"complete":bool,"by_rule":{...},
// "by_severity":{...}},"journal":{"entries":N,"bytes":N}|null,"sources":[{kind,ready,lag,why}]}.
// 500 when the finding store fails.
void RegisterStatsHandler(StatsOptions options, Router* router);

// The OpenAPI 3.0.3 description of the API (api/openapi.yaml, embedded at build time).
std::string_view OpenApiSpec();

// GET /v1/openapi.yaml (role open): OpenApiSpec() as application/yaml.
void RegisterOpenApiHandler(Router* router);

}  // namespace vigil::api
