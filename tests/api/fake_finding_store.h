// In-memory FindingStore for API tests: filters like the real store, pages with a decimal offset
// cursor, and records the last filter it was asked for. Thread-safe.
#pragma once

#include <algorithm>
#include <charconv>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vigil/core/finding_store.h"

namespace vigil::api::testing {

class FakeFindingStore : public FindingStore {
 public:
  Status Put(const std::vector<Finding>& findings) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Finding& f : findings) {
      auto it = std::find_if(findings_.begin(), findings_.end(),
                             [&](const Finding& g) { return g.id == f.id; });
      if (it != findings_.end()) {
        *it = f;
      } else {
        findings_.push_back(f);
      }
    }
    return Status::Ok();
  }

  Result<Finding> Get(const std::string& id) const override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Finding& f : findings_) {
      if (f.id == id) return f;
    }
    return Status::NotFound("no finding " + id);
  }

  Result<FindingPage> Query(const FindingFilter& filter) const override {
    std::lock_guard<std::mutex> lock(mu_);
    last_filter_ = filter;
    ++queries_;
    if (!query_error_.ok()) return query_error_;
    if (filter.limit < 1 || filter.limit > 1000) return Status::InvalidArgument("bad limit");
    size_t offset = 0;
    if (!filter.cursor.empty()) {
      auto [ptr, ec] = std::from_chars(filter.cursor.data(),
                                       filter.cursor.data() + filter.cursor.size(), offset);
      if (ec != std::errc() || ptr != filter.cursor.data() + filter.cursor.size()) {
        return Status::InvalidArgument("malformed cursor");
      }
    }
    std::vector<Finding> matching;
    for (const Finding& f : findings_) {
      if (FindingMatches(f, filter)) matching.push_back(f);
    }
    std::stable_sort(matching.begin(), matching.end(), [](const Finding& a, const Finding& b) {
      return a.first_seen_us > b.first_seen_us;
    });
    FindingPage page;
    for (size_t i = offset; i < matching.size() && page.findings.size() < filter.limit; ++i) {
      page.findings.push_back(matching[i]);
    }
    if (offset + page.findings.size() < matching.size()) {
      page.next_cursor = std::to_string(offset + page.findings.size());
    }
    return page;
  }

  std::optional<FindingFilter> last_filter() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_filter_;
  }
  int queries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return queries_;
  }
  void FailQueriesWith(Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    query_error_ = std::move(s);
  }

 private:
  mutable std::mutex mu_;
  std::vector<Finding> findings_;
  mutable std::optional<FindingFilter> last_filter_;
  mutable int queries_ = 0;
  Status query_error_;
};

}  // namespace vigil::api::testing
