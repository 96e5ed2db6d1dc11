// Findings as a fixed-width table, a JSON array, or JSON lines.
#include "vigil/app/output.h"

#include <algorithm>
#include <string>

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
  else return false;
  return true;
}

void PrintFindings(const std::vector<Finding>& findings, OutputFormat format, std::ostream& os) {
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
