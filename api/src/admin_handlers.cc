// GET /v1/rules, POST /v1/rules/reload, GET /v1/stats and GET /v1/openapi.yaml.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <span>
#include <utility>

#include "vigil/api/admin.h"
#include "vigil/core/embedded_file.h"
#include "vigil/core/finding.h"
#include "vigil/core/json_writer.h"

namespace vigil::api {

std::span<const EmbeddedFile> OpenApiFiles();  // generated from api/openapi.yaml

namespace {

void AppendRule(const RuleView& r, std::string* out) {
  out->append("{\"id\":");
  AppendJsonString(r.id, out);
  out->append(",\"name\":");
  AppendJsonString(r.name, out);
  out->append(",\"severity\":");
  AppendJsonString(r.severity, out);
  out->append(",\"loader\":");
  AppendJsonString(r.loader, out);
  out->append(",\"file\":");
  AppendJsonString(r.file, out);
  out->append(",\"line\":").append(std::to_string(r.line));
  out->append(",\"stateful\":").append(r.stateful ? "true" : "false");
  out->append(",\"enabled\":").append(r.enabled ? "true" : "false");
  out->append(",\"attack_ids\":[");
  for (size_t i = 0; i < r.attack_ids.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(r.attack_ids[i], out);
  }
  out->append("]}");
}

// {"k":n,...} in key order.
void AppendCounts(const std::map<std::string, uint64_t>& counts, std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const auto& [k, n] : counts) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(k, out);
    out->push_back(':');
    out->append(std::to_string(n));
  }
  out->push_back('}');
}

Response Stats(const StatsOptions& o) {
  std::string body = "{\"events\":{\"parsed\":";
  std::map<std::string, std::map<std::string, uint64_t>> by_cluster;
  std::map<std::string, uint64_t> by_source;
  if (o.metrics != nullptr) {
    body.append(std::to_string(o.metrics->events_parsed.load(std::memory_order_relaxed)));
    for (const EventCounts::Row& r : o.metrics->events_by_origin.Snapshot()) {
      by_cluster[r.cluster][r.source] += r.events;
      by_source[r.source] += r.events;
    }
  } else {
    body.append("0");
  }
  body.append(",\"by_cluster\":{");
  bool first = true;
  for (const auto& [cluster, sources] : by_cluster) {
    if (!first) body.push_back(',');
    first = false;
    AppendJsonString(cluster, &body);
    body.push_back(':');
    AppendCounts(sources, &body);
  }
  body.append("},\"by_source\":");
  AppendCounts(by_source, &body);
  body.push_back('}');

  if (o.findings != nullptr) {
    std::map<std::string, uint64_t> by_rule, by_severity;
    for (Severity s : {Severity::kInfo, Severity::kLow, Severity::kMedium, Severity::kHigh,
                       Severity::kCritical}) {
      by_severity[std::string(SeverityName(s))] = 0;
    }
    FindingFilter filter;
    size_t scanned = 0;
    bool complete = false;
    while (scanned < o.max_findings_scanned) {
      filter.limit = std::clamp<size_t>(o.max_findings_scanned - scanned, 1, 1000);
      Result<FindingPage> page = o.findings->Query(filter);
      if (!page.ok()) {
        spdlog::error("api: stats: finding store: {}", page.status().ToString());
        return JsonError(500, "finding store failed");
      }
      for (const Finding& f : page->findings) {
        ++by_rule[f.rule_id];
        ++by_severity[std::string(SeverityName(f.severity))];
      }
      scanned += page->findings.size();
      if (page->next_cursor.empty()) {
        complete = true;
        break;
      }
      filter.cursor = std::move(page->next_cursor);
    }
    body.append(",\"findings\":{\"scanned\":").append(std::to_string(scanned));
    body.append(",\"complete\":").append(complete ? "true" : "false");
    body.append(",\"by_rule\":");
    AppendCounts(by_rule, &body);
    body.append(",\"by_severity\":");
    AppendCounts(by_severity, &body);
    body.push_back('}');
  }

  body.append(",\"journal\":");
  if (o.journal != nullptr) {
    const JournalStats j = o.journal->journal_stats();
    body.append("{\"entries\":").append(std::to_string(j.entries));
    body.append(",\"bytes\":").append(std::to_string(j.bytes)).append("}");
  } else {
    body.append("null");
  }

  body.append(",\"sources\":[");
  if (o.sources) {
    first = true;
    for (const SourceStatus& s : o.sources()) {
      if (!first) body.push_back(',');
      first = false;
      body.append("{\"kind\":");
      AppendJsonString(s.kind, &body);
      body.append(",\"ready\":").append(s.ready ? "true" : "false");
      body.append(",\"lag\":").append(std::to_string(s.lag));
      body.append(",\"why\":");
      AppendJsonString(s.why, &body);
      body.push_back('}');
    }
  }
  body.append("]}");
  return Response::Json(200, std::move(body));
}

}  // namespace

void RegisterRuleHandlers(RuleHooks hooks, Router* router) {
  router->Add("GET", "/v1/rules", [list = hooks.list](const Request&) {
    RuleListing listing = list();
    std::sort(listing.rules.begin(), listing.rules.end(),
              [](const RuleView& a, const RuleView& b) { return a.id < b.id; });
    std::string body = "{\"generation\":" + std::to_string(listing.generation) + ",\"rules\":[";
    for (size_t i = 0; i < listing.rules.size(); ++i) {
      if (i > 0) body.push_back(',');
      AppendRule(listing.rules[i], &body);
    }
    body.append("]}");
    return Response::Json(200, std::move(body));
  });
  RouteOptions admin;
  admin.role = RouteOptions::Role::kAdmin;  // changes what every cluster's events are matched to
  router->Add(
      "POST", "/v1/rules/reload",
      [hooks](const Request& req) {
        if (Status s = hooks.reload(); !s.ok()) {
          spdlog::error("rules reload failed, previous rules stay active: {}", s.message());
          return JsonError(400, s.message());  // the operator's own files: file:line:col helps
        }
        const RuleListing listing = hooks.list();
        size_t enabled = 0;
        for (const RuleView& r : listing.rules) enabled += r.enabled ? 1 : 0;
        spdlog::info("rules reloaded by '{}': {} rules (generation {})", req.principal, enabled,
                     listing.generation);
        return Response::Json(200, "{\"rules\":" + std::to_string(enabled) + ",\"generation\":" +
                                       std::to_string(listing.generation) + "}");
      },
      admin);
}

void RegisterStatsHandler(StatsOptions options, Router* router) {
  router->Add("GET", "/v1/stats", [options](const Request&) { return Stats(options); });
}

std::string_view OpenApiSpec() {
  const auto files = OpenApiFiles();
  return files.empty() ? std::string_view() : files.front().text;
}

void RegisterOpenApiHandler(Router* router) {
  RouteOptions open;
  open.role = RouteOptions::Role::kOpen;  // describes the API, reveals nothing stored
  open.run = RouteOptions::Run::kInline;  // a constant string
  router->Add(
      "GET", "/v1/openapi.yaml",
      [](const Request&) {
        return Response::Text(200, "application/yaml", std::string(OpenApiSpec()));
      },
      open);
}

}  // namespace vigil::api
