// Conformance over the public reference corpus (/work/shared/corpus, or $VIGIL_CORPUS): every
// file reads without a crash and accounts for every record, with counts verified by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "vigil/ingest/envelope.h"
#include "vigil/ingest/file_source.h"
#include "vigil/ingest/padded_buffer.h"
#include "vigil/ingest/record_splitter.h"

namespace vigil::ingest {
namespace {

std::string CorpusDir() {
  if (const char* env = std::getenv("VIGIL_CORPUS"); env && *env) return env;
  const char* src = std::getenv("VIGIL_SOURCE_DIR");
  return std::string(src && *src ? src : VIGIL_SOURCE_DIR) + "/../shared/corpus";
}

#define REQUIRE_CORPUS_FILE(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "corpus file absent: " << (path)

struct Tally {
  std::vector<std::string> ids;
  std::vector<std::string> errors;
  FileSourceStats stats;
};

Tally ReadCorpus(const std::vector<std::string>& paths) {
  Tally t;
  Status s = ReadPaths(
      paths, FileSourceOptions{},
      [&](const AuditEvent& e, const SourcePosition&) { t.ids.emplace_back(e.audit_id); },
      [&](const IngestError& err) { t.errors.push_back(err.status.message()); }, &t.stats);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return t;
}

TEST(CorpusTest, ElasticFilesParse) {
  std::string dir = CorpusDir() + "/elastic";
  REQUIRE_CORPUS_FILE(dir);
  struct Want {
    const char* file;
    uint64_t events;
  } wants[] = {
      {"aws_eks_audit__deploy_tf_eks_audit.log", 18},
      {"aws_eks_audit__test-eks-audit.log__parser_edgecases_extract.jsonl", 7},
      {"gcp_audit__test-k8s-nonmatching-resourcename.log", 1},
      {"kubernetes_audit_logs__sample_event__reconstructed_raw.json", 1},
      {"kubernetes_audit_logs__test-audit.log", 5},       // 3 native, 1 GKE, 1 AKS object
      {"kubernetes_audit_logs__test-kube-audit.log", 1},  // AKS string
  };
  for (const Want& w : wants) {
    Tally t = ReadCorpus({dir + "/" + w.file});
    EXPECT_EQ(t.stats.events, w.events) << w.file;
    EXPECT_EQ(t.stats.malformed, 0u) << w.file;
    EXPECT_EQ(t.stats.skipped, 0u) << w.file;
    EXPECT_TRUE(t.errors.empty()) << w.file << ": " << (t.errors.empty() ? "" : t.errors[0]);
  }
  // The whole folder at once, in name order.
  Tally all = ReadCorpus({dir});
  EXPECT_EQ(all.stats.files, 6u);
  EXPECT_EQ(all.stats.events, 33u);
}

TEST(CorpusTest, ElasticEdgeCasesDropOddFields) {
  std::string path =
      CorpusDir() + "/elastic/aws_eks_audit__test-eks-audit.log__parser_edgecases_extract.jsonl";
  REQUIRE_CORPUS_FILE(path);
  std::map<std::string, std::string> seen;  // auditID -> a summary
  Status s = ReadPaths(
      {path}, FileSourceOptions{},
      [&](const AuditEvent& e, const SourcePosition&) {
        std::string summary = std::string(e.verb) + "|" + std::string(e.object_ref.resource) + "|" +
                              std::to_string(e.response_status.code) + "|" +
                              std::string(e.request_object.substr(0, 9));
        seen[std::string(e.audit_id)] = summary;
      },
      [&](const IngestError& err) { ADD_FAILURE() << err.status.message(); });
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(seen.size(), 7u);
  EXPECT_EQ(seen["malformed-mapped-shapes"], "get||0|\"invalid\"");
  EXPECT_EQ(seen["malformed-scalar-shapes"], "|pods|200|{\"apiVers");
  EXPECT_EQ(seen["coerced-and-dropped-shapes"], "create|pods|201|{\"apiVers");
  EXPECT_EQ(seen["list-typed-resource-drops-body"], "create||201|{\"apiVers");
  EXPECT_EQ(seen["request-received-annotation-outcome"], "get|pods|0|");
}

TEST(CorpusTest, Audit2RbacDemoLog) {
  std::string path = CorpusDir() + "/audit2rbac/demo.log";
  REQUIRE_CORPUS_FILE(path);
  Tally t = ReadCorpus({path});
  EXPECT_EQ(t.stats.records, 37u);
  EXPECT_EQ(t.stats.events, 37u);
  EXPECT_EQ(t.stats.malformed, 0u);
  EXPECT_TRUE(t.errors.empty());
}

// Panther fixtures are often hand-written without auditID or timestamps: those must be counted
// as malformed with exactly that reason, never as JSON errors.
void ExpectOnlyMissingFieldErrors(const Tally& t) {
  for (const std::string& e : t.errors) {
    bool expected = e.find("missing auditID") != std::string::npos ||
                    e.find("no usable timestamp") != std::string::npos;
    EXPECT_TRUE(expected) << e;
  }
}

TEST(CorpusTest, PantherK8sEvents) {
  std::string path = CorpusDir() + "/panther/panther_k8s_audit_events.jsonl";
  REQUIRE_CORPUS_FILE(path);
  Tally t = ReadCorpus({path});
  EXPECT_EQ(t.stats.records, 222u);
  EXPECT_EQ(t.stats.events, 17u);
  EXPECT_EQ(t.stats.malformed, 205u);  // 192 without auditID, 13 without timestamps
  EXPECT_EQ(t.stats.skipped, 0u);
  ExpectOnlyMissingFieldErrors(t);
  size_t no_id = 0;
  for (const std::string& e : t.errors) no_id += e.find("missing auditID") != std::string::npos;
  EXPECT_EQ(no_id, 192u);
}

TEST(CorpusTest, PantherGkeEvents) {
  std::string path = CorpusDir() + "/panther/panther_gke_cloudaudit_events.jsonl";
  REQUIRE_CORPUS_FILE(path);
  Tally t = ReadCorpus({path});
  EXPECT_EQ(t.stats.records, 57u);
  EXPECT_EQ(t.stats.events, 14u);
  EXPECT_EQ(t.stats.malformed, 37u);  // k8s.io entries without any timestamp
  EXPECT_EQ(t.stats.skipped, 6u);     // deploymentmanager and compute entries
  ExpectOnlyMissingFieldErrors(t);
}

// What the splitter and the decoder make of one file, record by record, independently of
// FileSource's counters.
struct Walk {
  uint64_t records = 0, events = 0, malformed = 0, skipped = 0, oversize = 0;
  uint64_t list_records = 0;  // EventList, array, AKS or CloudWatch records (0..n items each)
  std::vector<std::string> unaccounted;  // records that produced no outcome at all
};

class WalkSink : public RecordSplitter::Sink {
 public:
  explicit WalkSink(Walk* w) : w_(w) {}
  void OnRecord(const char* data, size_t len, size_t capacity, uint64_t line,
                uint64_t /*offset*/) override {
    ++w_->records;
    DecodeResult r = decoder_.Decode(data, len, capacity, [](const AuditEvent&) {});
    w_->events += r.events;
    w_->malformed += r.malformed;
    w_->skipped += r.skipped;
    const uint64_t outcomes = uint64_t{r.events} + r.malformed + r.skipped;
    const bool list = r.envelope == EnvelopeKind::kEventList ||
                      r.envelope == EnvelopeKind::kArray || r.envelope == EnvelopeKind::kAks ||
                      r.envelope == EnvelopeKind::kCloudWatch;
    if (list) ++w_->list_records;
    // A single-item record is exactly one event, one malformed or one skipped item; a list
    // record has at least one outcome.
    if (list ? outcomes == 0 : outcomes != 1) {
      w_->unaccounted.push_back("line " + std::to_string(line) + ": " + std::to_string(outcomes) +
                                " outcomes");
    }
  }
  void OnOversize(uint64_t, uint64_t, uint64_t) override { ++w_->oversize; }

 private:
  Walk* w_;
  EnvelopeDecoder decoder_;
};

Walk WalkFile(const std::string& path) {
  Walk w;
  WalkSink sink(&w);
  RecordSplitter splitter(EnvelopeOptions{}.max_record_bytes);
  std::ifstream in(path, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  PaddedBuffer buf;
  buf.Assign(content.data(), content.size());
  splitter.Feed(buf.data(), buf.size(), buf.capacity(), sink);
  splitter.Finish(sink);
  return w;
}

TEST(CorpusTest, EveryCorpusFileAccountsForEveryRecord) {
  std::string dir = CorpusDir();
  REQUIRE_CORPUS_FILE(dir);
  // Includes the label and rule-test files and the YAML rule packs: whatever they are, reading
  // them must not crash and every record must end up as events, malformed or skipped items.
  size_t files = 0;
  for (const char* sub : {"elastic", "audit2rbac", "panther", "falco", "sigma"}) {
    std::string p = dir + "/" + sub;
    if (!std::filesystem::exists(p)) continue;
    std::vector<std::string> paths;
    for (const auto& entry : std::filesystem::directory_iterator(p)) {
      std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && !name.empty() && name[0] != '.') {
        paths.push_back(entry.path().string());
      }
    }
    std::sort(paths.begin(), paths.end());
    EXPECT_FALSE(paths.empty()) << sub;
    for (const std::string& path : paths) {
      if (path.ends_with(".gz")) continue;  // the walk reads plain files only
      ++files;
      Tally t = ReadCorpus({path});
      const FileSourceStats& st = t.stats;
      EXPECT_EQ(st.files, 1u) << path;
      EXPECT_EQ(st.file_errors, 0u) << path;
      const uint64_t outcomes = st.events + st.malformed + st.skipped;
      Walk w = WalkFile(path);
      EXPECT_TRUE(w.unaccounted.empty())
          << path << ": " << (w.unaccounted.empty() ? "" : w.unaccounted.front());
      if (w.list_records == 0) {
        EXPECT_EQ(outcomes, st.records) << path;  // one outcome per record
      } else {
        EXPECT_GE(outcomes, st.records) << path;
      }
      // FileSource counted what the record-by-record walk saw.
      EXPECT_EQ(st.records, w.records) << path;
      EXPECT_EQ(st.events, w.events) << path;
      EXPECT_EQ(st.malformed, w.malformed) << path;
      EXPECT_EQ(st.skipped, w.skipped) << path;
      EXPECT_EQ(st.oversize, w.oversize) << path;
      EXPECT_EQ(t.ids.size(), st.events) << path;
      // Every malformed item and oversize record was reported.
      EXPECT_GE(t.errors.size(), (st.malformed > 0 ? 1u : 0u) + st.oversize) << path;
    }
  }
  EXPECT_GT(files, 0u);
}

}  // namespace
}  // namespace vigil::ingest
