// The state changelog's record format (see changelog_format.h).
#include "changelog_format.h"

#include <spdlog/spdlog.h>

#include <charconv>

namespace vigil::ingest::internal {
namespace {

constexpr std::string_view kMarkerMagic = "VM1";

void PutU32(uint32_t v, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool GetU32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  *v = 0;
  for (int i = 3; i >= 0; --i) *v = (*v << 8) | static_cast<unsigned char>((*in)[i]);
  in->remove_prefix(4);
  return true;
}

}  // namespace

bool ParseChangelogInt(std::string_view s, int64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string EncodeChangelogMarker(const ChangelogMarker& m) {
  std::string out(kMarkerMagic);
  PutExpiry(m.offset, &out);  // 8 bytes little-endian
  for (const auto& [cluster, wm] : m.watermarks) {
    PutU32(static_cast<uint32_t>(cluster.size()), &out);
    out.append(cluster);
    PutU32(static_cast<uint32_t>(wm.size()), &out);
    out.append(wm);
  }
  return out;
}

bool DecodeChangelogMarker(std::string_view in, ChangelogMarker* m) {
  if (in.substr(0, kMarkerMagic.size()) != kMarkerMagic) return false;
  in.remove_prefix(kMarkerMagic.size());
  if (in.size() < kStateExpiryBytes) return false;
  m->offset = GetExpiry(in);
  in.remove_prefix(kStateExpiryBytes);
  m->watermarks.clear();
  while (!in.empty()) {
    uint32_t n = 0;
    if (!GetU32(&in, &n) || in.size() < n) return false;
    std::string cluster(in.substr(0, n));
    in.remove_prefix(n);
    if (!GetU32(&in, &n) || in.size() < n) return false;
    m->watermarks[std::move(cluster)] = std::string(in.substr(0, n));
    in.remove_prefix(n);
  }
  return true;
}

std::string ChangelogMetaPrefix(std::string_view what) {
  std::string k = "changelog";
  k.push_back(kKeySep);
  k.append(what);
  k.push_back(kKeySep);
  return k;
}

std::string ChangelogMetaKey(std::string_view what, std::string_view topic, int32_t partition) {
  std::string k = ChangelogMetaPrefix(what);
  k.append(topic);
  k.push_back(kKeySep);
  k.append(std::to_string(partition));
  return k;
}

bool ReadChangelogRecord(const KafkaReadRecord& r, ChangelogRecord* out) {
  auto topic = r.header(kChangelogTopicHeader);
  auto key = r.key();
  auto covered = r.header(kChangelogOffsetHeader);
  if (!topic || !key || key->empty() || !covered || !ParseChangelogInt(*covered, &out->covered)) {
    return false;
  }
  out->topic = *topic;
  out->type = (*key)[0];
  out->key = key->substr(1);
  out->value = r.value();
  return true;
}

bool ChangelogEntries::Add(const ChangelogRecord& r, int64_t offset,
                           std::string_view changelog_topic) {
  switch (r.type) {
    case kChangelogState:
      state[std::string(r.key)] = r.value ? std::optional<std::string>(*r.value) : std::nullopt;
      clusters.emplace(StateKeyCluster(r.key));
      return true;
    case kChangelogDedup:
      if (r.value) dedup[std::string(r.key)] = std::string(*r.value);
      clusters.emplace(DedupKeyCluster(r.key));
      return true;
    case kChangelogFinding: {
      if (!r.value) return true;
      auto f = FindingFromJson(*r.value);
      if (!f.ok()) {
        spdlog::warn("changelog: {}@{}: a finding that cannot be read: {}", changelog_topic, offset,
                     f.status().message());
        return false;
      }
      findings[f->id] = std::move(*f);
      return true;
    }
    default:
      return false;
  }
}

void ChangelogEntries::MoveTo(StateCheckpoint* cp) {
  for (auto& [k, v] : state) {
    if (v) {
      cp->state.emplace_back(k, std::move(*v));
    } else {
      cp->state_deletes.push_back(k);
    }
  }
  for (auto& [k, v] : dedup) {
    if (v) {
      cp->dedup.emplace_back(k, std::move(*v));
    } else {
      cp->dedup_deletes.push_back(k);
    }
  }
  for (auto& [id, f] : findings) cp->findings.push_back(std::move(f));
  state.clear();
  dedup.clear();
  findings.clear();
}

}  // namespace vigil::ingest::internal
