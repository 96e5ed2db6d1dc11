// Findings as a fixed-width table, a JSON array, or JSON lines.
#include "vigil/app/output.h"

#include <unistd.h>

#include <algorithm>
#include <string>

#include "vigil/core/json_writer.h"
#include "vigil/core/time_util.h"

namespace vigil::app {
namespace {

// Cuts to `width` columns (bytes; good enough for the ASCII fields shown), marking a cut "~".
std::string Fit(std::string_view s, size_t width) {
  std::string out = SanitizeForTerminal(s);
  if (out.size() > width) {
    out.resize(width - 1);
    out += "~";
  }
  return out;
}

std::string ObjectText(const Finding& f) {
  std::string o = f.object.resource;
  if (!f.object.subresource.empty()) o += "/" + f.object.subresource;
  if (!f.object.namespace_.empty() && !f.object.name.empty()) {
    o += " " + f.object.namespace_ + "/" + f.object.name;
  } else if (!f.object.namespace_.empty() || !f.object.name.empty()) {
    o += " " + f.object.namespace_ + f.object.name;  // a namespace (list) or a cluster object
  }
  return o;
}

}  // namespace

std::string SanitizeForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      out.push_back('?');
    } else if (c == 0xC2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      out.push_back('?');  // U+0080..U+009F, the C1 controls (CSI is U+009B)
      ++i;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

bool ParseOutputFormat(std::string_view text, OutputFormat* out) {
  if (text == "table") *out = OutputFormat::kTable;
  else if (text == "json") *out = OutputFormat::kJson;
  else if (text == "jsonl") *out = OutputFormat::kJsonl;
  else if (text == "falco")
    *out = OutputFormat::kFalco;
  else return false;
  return true;
}

std::string_view FalcoPriorityName(Severity s) {
  switch (s) {
    case Severity::kCritical:
      return "Critical";
    case Severity::kHigh:
      return "Error";
    case Severity::kMedium:
      return "Warning";
    case Severity::kLow:
      return "Notice";
    case Severity::kInfo:
      return "Informational";
  }
  return "Informational";
}

std::string FindingToFalcoJson(const Finding& f, std::string_view hostname) {
  // "2024-05-01T10:00:00.100000Z" -> nanoseconds: Falco's times carry 9 digits.
  const std::string micros = FormatTimestampMicros(f.first_seen_us);
  const std::string time = micros.substr(0, micros.size() - 1) + "000Z";
  const std::string_view priority = FalcoPriorityName(f.severity);
  std::string out = "{\"time\":";
  AppendJsonString(time, &out);
  out += ",\"rule\":";
  AppendJsonString(f.rule_name, &out);
  out += ",\"priority\":";
  AppendJsonString(priority, &out);
  out += ",\"output\":";
  AppendJsonString(time.substr(11, 18) + ": " + std::string(priority) + " " + f.message, &out);
  out += ",\"output_fields\":{\"evt.time\":";
  out += std::to_string(f.first_seen_us * 1000);
  std::vector<std::string_view> named;
  auto field = [&](std::string_view name, std::string_view value) {
    if (std::find(named.begin(), named.end(), name) != named.end()) return;
    named.push_back(name);
    out += ',';
    AppendJsonString(name, &out);
    out += ':';
    AppendJsonString(value, &out);
  };
  for (const auto& [name, value] : f.fields) field(name, value);
  auto context = [&](std::string_view name, std::string_view value) {
    if (!value.empty()) field(name, value);
  };
  context("ka.user.name", f.user);
  context("ka.impuser.name", f.impersonated_user);
  context("ka.verb", f.verb);
  context("ka.target.resource", f.object.resource);
  context("ka.target.subresource", f.object.subresource);
  context("ka.target.namespace", f.object.namespace_);
  context("ka.target.name", f.object.name);
  context("ka.useragent", f.user_agent);
  std::string ips;
  for (const std::string& ip : f.source_ips) ips += (ips.empty() ? "" : ",") + ip;
  context("ka.sourceips", ips);
  context("ka.cluster.name", f.cluster);
  context("vigil.finding_id", f.id);
  context("vigil.rule_id", f.rule_id);
  const std::string count = std::to_string(f.count);
  context("vigil.count", count);
  out += "},\"source\":\"k8s_audit\",\"tags\":[";
  std::vector<std::string_view> tags(f.tags.begin(), f.tags.end());
  for (const std::string& a : f.attack_ids) {
    if (std::find(tags.begin(), tags.end(), a) == tags.end()) tags.push_back(a);
  }
  for (size_t i = 0; i < tags.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(tags[i], &out);
  }
  out += "],\"hostname\":";
  AppendJsonString(hostname, &out);
  out += '}';
  return out;
}

std::string LocalHostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "vigil";
  return name;
}

void PrintFindings(const std::vector<Finding>& findings, OutputFormat format, std::ostream& os) {
  if (format == OutputFormat::kFalco) {
    const std::string host = LocalHostname();
    for (const Finding& f : findings) os << FindingToFalcoJson(f, host) << '\n';
    return;
  }
  if (format == OutputFormat::kJsonl) {
    for (const Finding& f : findings) os << FindingToJson(f) << '\n';
    return;
  }
  if (format == OutputFormat::kJson) {
    os << '[';
    for (size_t i = 0; i < findings.size(); ++i) {
      if (i) os << ",\n ";
      os << FindingToJson(findings[i]);
    }
    os << "]\n";
    return;
  }
  struct Col {
    const char* title;
    size_t width;
  };
  const Col cols[] = {{"FIRST SEEN (UTC)", 19}, {"SEVERITY", 8}, {"RULE", 36}, {"CLUSTER", 14},
                      {"USER", 30},             {"VERB", 6},     {"OBJECT", 36}};
  auto row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string c = Fit(cells[i], cols[i].width);
      c.resize(cols[i].width, ' ');
      line += c;
      line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    os << line << '\n';
  };
  std::vector<std::string> header;
  for (const Col& c : cols) header.emplace_back(c.title);
  row(header);
  for (const Finding& f : findings) {
    std::string t = FormatTimestampMicros(f.first_seen_us).substr(0, 19);
    t[10] = ' ';
    row({t, std::string(SeverityName(f.severity)), f.rule_id, f.cluster, f.user, f.verb,
         ObjectText(f)});
    os << "    " << SanitizeForTerminal(f.message) << '\n';
  }
  os << findings.size() << (findings.size() == 1 ? " finding\n" : " findings\n");
}

}  // namespace vigil::app
