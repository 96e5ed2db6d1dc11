// The state changelog's record format, shared by its writer and restore (state_changelog.cc) and
// its standby (changelog_standby.cc). See state_changelog.h for the layout.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "vigil/core/finding.h"
#include "vigil/core/state_store.h"
#include "vigil/ingest/kafka_topic_reader.h"

namespace vigil::ingest::internal {

// Record key types: the first byte of a changelog key.
constexpr char kChangelogState = 's';
constexpr char kChangelogDedup = 'd';
constexpr char kChangelogFinding = 'f';
constexpr char kChangelogMarker = 'm';
constexpr const char* kChangelogTopicHeader = "vigil-topic";
constexpr const char* kChangelogOffsetHeader = "vigil-offset";

bool ParseChangelogInt(std::string_view s, int64_t* out);

// A stream's marker: the input offset its last complete checkpoint covers and the watermarks of
// its clusters.
struct ChangelogMarker {
  int64_t offset = -1;
  std::map<std::string, std::string> watermarks;  // cluster -> WatermarkMetaKey value
};
std::string EncodeChangelogMarker(const ChangelogMarker& m);
bool DecodeChangelogMarker(std::string_view in, ChangelogMarker* m);

// "changelog␟<what>␟<topic>␟<partition>": the local meta keys; the prefix before the topic.
std::string ChangelogMetaKey(std::string_view what, std::string_view topic, int32_t partition);
std::string ChangelogMetaPrefix(std::string_view what);

// A changelog record as a restore or a standby reads it: which stream (input topic) it belongs
// to, what it covers, and its type and store key.
struct ChangelogRecord {
  std::string_view topic;  // the input topic (vigil-topic)
  int64_t covered = -1;    // vigil-offset
  char type = 0;
  std::string_view key;  // the store's key (without the type byte)
  std::optional<std::string_view> value;
};
// False for a record that is not one (no key, no or a bad header).
bool ReadChangelogRecord(const KafkaReadRecord& r, ChangelogRecord* out);

// The latest value of each key read, to be written to a store at once (a key is sent again with
// each checkpoint that changed it; a store write sorts its keys, so it must see each once).
struct ChangelogEntries {
  std::unordered_map<std::string, std::optional<std::string>> state;
  std::unordered_map<std::string, std::optional<std::string>> dedup;
  std::unordered_map<std::string, Finding> findings;
  std::set<std::string> clusters;  // of every entry added (kept by MoveTo)

  // Adds a state, dedup or finding record; false (and a warning) for one that cannot be read.
  bool Add(const ChangelogRecord& r, int64_t offset, std::string_view changelog_topic);
  size_t size() const { return state.size() + dedup.size() + findings.size(); }
  // Moves the entries into cp (state and dedup deletes for null values).
  void MoveTo(StateCheckpoint* cp);
};

}  // namespace vigil::ingest::internal
