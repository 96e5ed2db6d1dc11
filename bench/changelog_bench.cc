// changelog_bench: what moving a partition's state costs. A KafkaStateChangelog writes N state
// keys of one input partition (in checkpoints of --slice keys) to librdkafka's mock cluster
// (in a child process), and another instance restores them into a real RocksDB
// store (synced writes): restore time, changelog bytes and bytes per key, for each N.
//
// The mock keeps only the last ~5 MB of a partition, so N above what fits is written and
// restored in slices, each restore reading only the new records into the same store (the
// incremental restore a returning owner does): the restore time of N keys is the sum.
//
// With --standby 1, a third instance keeps a standby (standby_replicas: 1) in a RocksDB store of
// its own: how long it takes to apply each checkpoint after Kafka acknowledged it (its lag
// behind the writer), and what taking the partition over then costs (the restore that reads
// only what the standby had not applied), next to the full restore.
//
//   changelog_bench [--keys 10000,100000,1000000] [--slice 20000] [--value-bytes 72]
//                   [--workdir /tmp] [--standby 0|1]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mock_cluster.h"
#include "vigil/ingest/state_changelog.h"
#include "vigil/store/rocksdb_finding_store.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace vigil;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "changelog_bench: %s\n", msg.c_str());
  std::exit(1);
}

std::vector<size_t> ParseList(const std::string& s) {
  std::vector<size_t> out;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t comma = s.find(',', at);
    out.push_back(std::stoul(s.substr(at, comma - at)));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

std::unique_ptr<ingest::KafkaStateChangelog> Make(const std::string& bootstrap) {
  ingest::StateChangelogOptions o;
  o.brokers = bootstrap;
  o.group = "bench";
  o.standby_lag_interval = std::chrono::milliseconds(20);
  auto c = ingest::KafkaStateChangelog::Create(o);
  if (!c.ok()) Die(c.status().ToString());
  if (Status s = (*c)->Start(std::chrono::seconds(30)); !s.ok()) Die(s.ToString());
  return std::move(c).value();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {10000, 100000, 1000000};
  size_t slice = 20000, value_bytes = 72;
  bool standby = false;
  std::string workdir = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--keys") {
      sizes = ParseList(v);
    } else if (k == "--slice") {
      slice = std::stoul(v);
    } else if (k == "--value-bytes") {
      value_bytes = std::stoul(v);
    } else if (k == "--workdir") {
      workdir = v;
    } else if (k == "--standby") {
      standby = v == "1";
    } else {
      Die("unknown option " + k);
    }
  }
  if (standby) {
    std::printf(
        "| state keys | write s | full restore s | standby apply s (after the ack) | "
        "take-over with a standby s | records it read | slices |\n"
        "|---|---|---|---|---|---|---|\n");
  } else {
    std::printf(
        "| state keys | changelog bytes | bytes/key | write s | restore s | keys/s restored | "
        "MB/s restored | slices |\n|---|---|---|---|---|---|---|---|\n");
  }
  for (size_t n : sizes) {
    pid_t mock = 0;
    const std::string bootstrap =
        vigil::bench::StartMockCluster(&mock, {"bench-state-changelog"}, 1);
    if (bootstrap.empty()) Die("the mock cluster did not start");
    auto writer = Make(bootstrap);
    auto reader = Make(bootstrap);
    const std::string dir = workdir + "/changelog-bench-db";
    std::system(("rm -rf " + dir).c_str());
    auto store = store::RocksDbFindingStore::Open(dir);
    if (!store.ok()) Die(store.status().ToString());
    // The standby's instance and store.
    std::unique_ptr<ingest::KafkaStateChangelog> warm;
    std::unique_ptr<store::RocksDbFindingStore> warm_store;
    const std::string warm_dir = workdir + "/changelog-bench-standby";
    if (standby) {
      std::system(("rm -rf " + warm_dir).c_str());
      auto opened = store::RocksDbFindingStore::Open(warm_dir);
      if (!opened.ok()) Die(opened.status().ToString());
      warm_store = std::move(opened).value();
      warm = Make(bootstrap);
      if (Status s = warm->StartStandby(warm_store.get()); !s.ok()) Die(s.ToString());
    }
    double write_s = 0, restore_s = 0, standby_s = 0;
    size_t slices = 0;
    ingest::RecordOrigin origin;
    origin.key = "audit";
    origin.partition = 0;
    origin.cluster = "c0";
    ingest::RawRecord rec;
    const std::string payload(value_bytes, 'v');
    for (size_t done = 0; done < n; done += slice) {
      const size_t m = std::min(slice, n - done);
      StateCheckpoint cp;
      for (size_t i = 0; i < m; ++i) {
        std::string v;
        PutExpiry(int64_t{4102444800} * 1'000'000, &v);
        v += payload;
        cp.state.emplace_back(MakeStateKey("k8s.new_verb_resource_for_identity", "c0",
                                           "user-" + std::to_string(done + i)),
                              std::move(v));
      }
      rec.position = done + m - 1;
      writer->Applied(origin, rec);
      ingest::ChangelogBatch batch;
      const auto t0 = SteadyClock::now();
      if (Status s = writer->Prepare(cp, **store, &batch); !s.ok()) Die(s.ToString());
      if (Status s = writer->Write(batch, &cp); !s.ok()) Die(s.ToString());
      const auto t1 = SteadyClock::now();
      if (warm) {
        // The standby applies a checkpoint at its marker (polled: a bench may look often).
        while (warm->stats().standby_checkpoints < slices + 1) {
          if (SteadyClock::now() - t1 > std::chrono::minutes(5)) Die("the standby fell behind");
          usleep(1000);
        }
      }
      const auto t1b = SteadyClock::now();
      standby_s += std::chrono::duration<double>(t1b - t1).count();
      int64_t offset = -1;
      auto r = reader->Restore("audit", 0, store->get(), &offset);
      if (!r.ok()) Die(r.status().ToString());
      const auto t2 = SteadyClock::now();
      if (offset != static_cast<int64_t>(done + m)) Die("restored to the wrong offset");
      write_s += std::chrono::duration<double>(t1 - t0).count();
      restore_s += std::chrono::duration<double>(t2 - t1b).count();
      ++slices;
    }
    // Every key is in the store.
    for (size_t i : {size_t{0}, n / 2, n - 1}) {
      auto v = (*store)->GetState(
          MakeStateKey("k8s.new_verb_resource_for_identity", "c0", "user-" + std::to_string(i)));
      if (!v.ok() || !v->has_value()) Die("key " + std::to_string(i) + " not restored");
    }
    const auto st = reader->stats();
    if (warm) {
      // The writer is gone; the standby's instance takes the partition over.
      int64_t offset = -1;
      const auto t0 = SteadyClock::now();
      auto r = warm->Restore("audit", 0, warm_store.get(), &offset);
      if (!r.ok()) Die(r.status().ToString());
      const double takeover_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
      auto v = warm_store->GetState(MakeStateKey("k8s.new_verb_resource_for_identity", "c0",
                                                 "user-" + std::to_string(n - 1)));
      if (!v.ok() || !v->has_value()) Die("the standby does not have the last key");
      std::printf("| %zu | %.2f | %.2f | %.2f | %.4f | %llu | %zu |\n", n, write_s, restore_s,
                  standby_s, takeover_s,
                  static_cast<unsigned long long>(warm->stats().restore_records), slices);
      std::fflush(stdout);
      warm.reset();
      warm_store.reset();
      std::system(("rm -rf " + warm_dir).c_str());
    } else {
      std::printf("| %zu | %.1f MB | %.0f | %.2f | %.2f | %.0f | %.1f | %zu |\n", n,
                  static_cast<double>(st.restore_bytes) / 1e6,
                  static_cast<double>(st.restore_bytes) / static_cast<double>(n), write_s,
                  restore_s, static_cast<double>(n) / restore_s,
                  static_cast<double>(st.restore_bytes) / 1e6 / restore_s, slices);
      std::fflush(stdout);
    }
    writer.reset();  // before the mock goes: their last words would be connection errors
    reader.reset();
    store->reset();
    std::system(("rm -rf " + dir).c_str());
    kill(mock, SIGTERM);
    waitpid(mock, nullptr, 0);
  }
  return 0;
}
