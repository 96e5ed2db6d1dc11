// Conformance over the public reference corpus (/work/shared/corpus, or $VIGIL_CORPUS): every
// file reads without a crash, with counts verified by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "vigil/ingest/file_source.h"

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

TEST(CorpusTest, EveryCorpusFileReadsWithoutCrash) {
  std::string dir = CorpusDir();
  REQUIRE_CORPUS_FILE(dir);
  // Includes the label and rule-test files and the YAML rule packs: whatever they are, reading
  // them must not crash and must account for every record.
  for (const char* sub : {"elastic", "audit2rbac", "panther", "falco", "sigma"}) {
    std::string p = dir + "/" + sub;
    if (!std::filesystem::exists(p)) continue;
    Tally t = ReadCorpus({p});
    EXPECT_GT(t.stats.files, 0u) << sub;
    EXPECT_GE(t.stats.records, t.stats.oversize) << sub;
  }
}

}  // namespace
}  // namespace vigil::ingest
