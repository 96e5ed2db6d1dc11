// `vigil deadletters`: the store's dead letters as a table, a JSON array or JSON lines.
#include "vigil/app/deadletters_cli.h"

#include <algorithm>
#include <filesystem>
#include <string>

#include "vigil/core/json_writer.h"
#include "vigil/core/time_util.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::app {
namespace {

constexpr size_t kHeadPreviewBytes = 120;

// Cuts to `width` bytes, marking a cut "~". The cut may split a UTF-8 sequence, so it is made
// on the raw text and the result made safe afterwards.
std::string Fit(std::string_view s, size_t width) {
  if (s.size() <= width) return TerminalSafe(s);
  return TerminalSafe(s.substr(0, width - 1)) + "~";
}

std::string Position(const DeadLetter& dl) {
  std::string p;
  auto add = [&](std::string part) {
    if (!p.empty()) p += ' ';
    p += part;
  };
  if (dl.partition >= 0) add("p" + std::to_string(dl.partition));
  if (dl.line > 0) add("line " + std::to_string(dl.line));
  if (dl.offset >= 0) add("off " + std::to_string(dl.offset));
  return p.empty() ? "-" : p;
}

}  // namespace

std::string TerminalSafe(std::string_view text) {
  std::string valid;
  valid.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    // The shortest valid UTF-8 prefix is the sequence at i (a 1-byte prefix is valid only for
    // ASCII, and an incomplete sequence never is).
    size_t n = 0;
    for (size_t len = 1; len <= 4 && i + len <= text.size(); ++len) {
      if (IsValidUtf8(text.substr(i, len))) {
        n = len;
        break;
      }
    }
    if (n == 0) {
      valid.push_back('?');
      ++i;
    } else {
      valid.append(text.substr(i, n));
      i += n;
    }
  }
  return SanitizeForTerminal(valid);
}

void PrintDeadLetters(const std::vector<DeadLetter>& dead_letters, OutputFormat format,
                      std::ostream& os, const uint64_t* kept) {
  if (format == OutputFormat::kJsonl) {
    for (const DeadLetter& dl : dead_letters) os << DeadLetterToJson(dl) << '\n';
    return;
  }
  if (format == OutputFormat::kJson) {
    os << '[';
    for (size_t i = 0; i < dead_letters.size(); ++i) {
      if (i) os << ",\n ";
      os << DeadLetterToJson(dead_letters[i]);
    }
    os << "]\n";
    return;
  }
  struct Col {
    const char* title;
    size_t width;
  };
  const Col cols[] = {{"RECEIVED (UTC)", 19}, {"SOURCE", 8}, {"ORIGIN", 36},
                      {"POSITION", 24},       {"SIZE", 9},   {"ERROR", 60}};
  auto row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string c = Fit(cells[i], cols[i].width);
      c.resize(std::max(c.size(), cols[i].width), ' ');
      line += c;
      line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    os << line << '\n';
  };
  std::vector<std::string> header;
  for (const Col& c : cols) header.emplace_back(c.title);
  row(header);
  for (const DeadLetter& dl : dead_letters) {
    std::string t = FormatTimestampMicros(dl.received_us).substr(0, 19);
    if (t.size() > 10) t[10] = ' ';
    row({t, dl.source, dl.origin, Position(dl), std::to_string(dl.size), dl.error});
    std::string_view head = dl.head;
    const bool cut = head.size() > kHeadPreviewBytes || dl.size > dl.head.size();
    os << "    " << TerminalSafe(head.substr(0, kHeadPreviewBytes)) << (cut ? "~" : "") << '\n';
  }
  os << dead_letters.size() << (dead_letters.size() == 1 ? " dead letter" : " dead letters");
  if (kept != nullptr) os << " (" << *kept << " kept)";
  os << '\n';
}

int RunDeadLetters(const std::string& db_dir, const DeadLetterFilter& base, size_t limit,
                   OutputFormat format, std::ostream& out, std::ostream& err) {
  std::error_code ec;
  if (!std::filesystem::exists(db_dir, ec)) {
    err << "vigil: " << TerminalSafe("no store at " + db_dir) << '\n';
    return 2;
  }
  auto opened = store::RocksDbFindingStore::Open(db_dir);
  if (!opened.ok()) {
    err << "vigil: " << TerminalSafe(opened.status().message()) << '\n';
    return 1;
  }
  const store::RocksDbFindingStore& db = **opened;
  std::vector<DeadLetter> all;
  DeadLetterFilter filter = base;
  filter.cursor.clear();
  filter.limit = kMaxDeadLetterLimit;
  while (limit == 0 || all.size() < limit) {
    auto page = db.ListDeadLetters(filter);
    if (!page.ok()) {
      err << "vigil: " << TerminalSafe(page.status().message()) << '\n';
      return 1;
    }
    for (DeadLetter& dl : page->dead_letters) {
      if (limit != 0 && all.size() >= limit) break;
      all.push_back(std::move(dl));
    }
    if (page->next_cursor.empty()) break;
    filter.cursor = std::move(page->next_cursor);
  }
  const uint64_t kept = db.DeadLetterCount();
  PrintDeadLetters(all, format, out, &kept);
  return 0;
}

}  // namespace vigil::app
