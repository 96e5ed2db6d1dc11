// What a Vigil store directory holds, for end-to-end tests that compare runs: id -> "rule
// cluster count=N" (or the finding's FindingToJson). Opens the store, so the process that
// wrote it must have stopped.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>

#include "vigil/core/finding.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace vigil::testing {

// The short form the comparisons use.
inline std::string FindingSummary(const Finding& f) {
  return f.rule_id + " " + f.cluster + " count=" + std::to_string(f.count);
}

// Every finding of `db`, page by page.
inline void ForEachStoredFinding(store::RocksDbFindingStore* db,
                                 const std::function<void(const Finding&)>& fn) {
  FindingFilter filter;
  filter.limit = store::RocksDbFindingStore::kMaxLimit;
  while (true) {
    auto page = db->Query(filter);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) break;
    for (const Finding& f : page->findings) fn(f);
    if (page->next_cursor.empty()) break;
    filter.cursor = page->next_cursor;
  }
}

// id -> describe(finding) for every finding of `db`.
inline std::map<std::string, std::string> StoredFindings(
    store::RocksDbFindingStore* db,
    const std::function<std::string(const Finding&)>& describe = FindingSummary) {
  std::map<std::string, std::string> out;
  ForEachStoredFinding(db, [&](const Finding& f) { out[f.id] = describe(f); });
  return out;
}

// The same for the store in `dir` (FindingSummary, or FindingToJson with json).
inline std::map<std::string, std::string> StoredFindings(const std::string& dir,
                                                         bool json = false) {
  store::StoreOptions opts;
  opts.sync_writes = false;  // read only
  auto db = store::RocksDbFindingStore::Open(dir, opts);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return {};
  if (json) return StoredFindings(db->get(), [](const Finding& f) { return FindingToJson(f); });
  return StoredFindings(db->get());
}

// The differences between two such maps, one line each ("" when equal).
inline std::string FindingsDiff(const std::map<std::string, std::string>& want,
                                const std::map<std::string, std::string>& got) {
  std::string diff;
  for (const auto& [id, d] : want) {
    auto it = got.find(id);
    if (it == got.end()) {
      diff += "\n  missing " + id + " " + d;
    } else if (it->second != d) {
      diff += "\n  differs " + id + " want " + d + " got " + it->second;
    }
  }
  for (const auto& [id, d] : got) {
    if (!want.count(id)) diff += "\n  extra " + id + " " + d;
  }
  return diff;
}

}  // namespace vigil::testing
