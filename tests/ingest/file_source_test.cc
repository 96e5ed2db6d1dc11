// Tests for FileSource and RecordSplitter: framings, gzip (good and corrupt), directories,
// limits, and error positions.
#include "temp_dir.h"
#include "vigil/ingest/file_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "vigil/ingest/padded_buffer.h"
#include "vigil/ingest/record_splitter.h"

namespace vigil::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::TempDir;

std::string Event(std::string_view id) {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":")" + std::string(id) +
         R"(","verb":"get","stageTimestamp":"2024-05-01T10:00:00Z"})";
}

struct RunResult {
  std::vector<std::string> ids;
  std::vector<SourcePosition> positions;
  std::vector<std::string> position_files;
  std::vector<IngestError> errors;
  std::vector<std::string> messages;
  FileSourceStats stats;
  Status status;
};

RunResult Read(const std::vector<std::string>& paths, FileSourceOptions opts = {}) {
  RunResult run;
  run.status = ReadPaths(
      paths, opts,
      [&](const AuditEvent& e, const SourcePosition& pos) {
        run.ids.emplace_back(e.audit_id);
        run.positions.push_back(pos);
        run.position_files.emplace_back(pos.file);
      },
      [&](const IngestError& err) {
        run.errors.push_back(err);
        run.messages.push_back(err.status.message());
      },
      &run.stats);
  return run;
}

TEST(FileSourceTest, JsonLinesWithBadLineInTheMiddle) {
  TempDir dir;
  std::string p =
      dir.Write("audit.log", Event("1") + "\n" + R"({"auditID":"2", broken)" + "\n" + Event("3") +
                                 "\n\n" + Event("4") + "\r\n" + Event("5"));
  RunResult run = Read({p});
  ASSERT_TRUE(run.status.ok());
  EXPECT_THAT(run.ids, ElementsAre("1", "3", "4", "5"));
  ASSERT_EQ(run.errors.size(), 1u);
  EXPECT_EQ(run.errors[0].kind, IngestErrorKind::kMalformed);
  EXPECT_EQ(run.errors[0].position.line, 2u);
  EXPECT_THAT(run.messages[0], HasSubstr("audit.log:2: invalid JSON"));
  EXPECT_EQ(run.positions[0].line, 1u);
  EXPECT_EQ(run.positions[0].byte_offset, 0u);
  EXPECT_EQ(run.positions[1].line, 3u);
  EXPECT_EQ(run.positions[2].line, 5u);
  EXPECT_EQ(run.positions[3].line, 6u);
  EXPECT_EQ(run.stats.records, 5u);
  EXPECT_EQ(run.stats.events, 4u);
  EXPECT_EQ(run.stats.malformed, 1u);
  EXPECT_EQ(run.stats.bytes_read, TempDir::Read(p).size());
  EXPECT_EQ(run.position_files[0], p);
}

TEST(FileSourceTest, PrettyPrintedArray) {
  TempDir dir;
  std::string p = dir.Write("a.json",
                            "[\n  {\n    \"kind\": \"Event\",\n    \"auditID\": \"a\",\n"
                            "    \"stageTimestamp\": \"2024-05-01T10:00:00Z\",\n"
                            "    \"userAgent\": \"x]},[\"\n  },\n  {\n"
                            "    \"auditID\": \"b\",\n"
                            "    \"stageTimestamp\": \"2024-05-01T10:00:00Z\"\n  },\n"
                            "  \"junk\"\n]\n");
  RunResult run = Read({p});
  EXPECT_THAT(run.ids, ElementsAre("a", "b"));
  ASSERT_EQ(run.positions.size(), 2u);
  EXPECT_EQ(run.positions[0].line, 2u);
  EXPECT_EQ(run.positions[1].line, 8u);
  ASSERT_EQ(run.errors.size(), 1u);
  EXPECT_EQ(run.errors[0].position.line, 12u);
  EXPECT_THAT(run.messages[0], HasSubstr("not an object"));
}

TEST(FileSourceTest, PrettyPrintedEventListAndConcatenatedObjects) {
  TempDir dir;
  std::string list = "{\n \"kind\": \"EventList\",\n \"items\": [\n  " + Event("a") + ",\n  " +
                     Event("b") + "\n ]\n}\n";
  std::string p = dir.Write("list.json", list +
                                             "{\n \"auditID\": \"c\",\n"
                                             " \"stageTimestamp\": \"2024-05-01T10:00:00Z\"\n}" +
                                             Event("d"));
  RunResult run = Read({p});
  EXPECT_THAT(run.ids, ElementsAre("a", "b", "c", "d"));
  EXPECT_EQ(run.positions[0].line, 1u);
  EXPECT_EQ(run.positions[2].line, 8u);
  EXPECT_EQ(run.positions[3].line, 11u);
  EXPECT_TRUE(run.errors.empty());
}

TEST(FileSourceTest, EmptyFileIsReportedNotFatal) {
  TempDir dir;
  std::string empty = dir.Write("empty.log", "");
  std::string good = dir.Write("good.log", Event("g") + "\n");
  RunResult run = Read({empty, good});
  ASSERT_TRUE(run.status.ok());
  EXPECT_THAT(run.ids, ElementsAre("g"));
  ASSERT_EQ(run.errors.size(), 1u);
  EXPECT_EQ(run.errors[0].kind, IngestErrorKind::kFile);
  EXPECT_THAT(run.messages[0], HasSubstr("empty file"));
  EXPECT_EQ(run.stats.file_errors, 1u);
}

TEST(FileSourceTest, MissingPathIsFatal) {
  TempDir dir;
  RunResult run = Read({dir.path() + "/nope.log"});
  EXPECT_EQ(run.status.code(), StatusCode::kNotFound);
}

TEST(FileSourceTest, GoodGzip) {
  TempDir dir;
  std::string content;
  for (int i = 0; i < 2000; ++i) content += Event(std::to_string(i)) + "\n";
  std::string p = dir.WriteGz("audit.log.gz", content);
  FileSourceOptions opts;
  opts.read_chunk_bytes = 4096;  // records cross chunk boundaries
  RunResult run = Read({p}, opts);
  ASSERT_EQ(run.ids.size(), 2000u);
  EXPECT_EQ(run.ids[1999], "1999");
  EXPECT_EQ(run.positions[1999].line, 2000u);
  EXPECT_TRUE(run.errors.empty());
  EXPECT_EQ(run.stats.bytes_read, content.size());
}

TEST(FileSourceTest, CorruptGzipKeepsEarlierEventsAndNextFiles) {
  TempDir dir;
  std::string content;
  for (int i = 0; i < 5000; ++i) {
    content += R"({"auditID":")" + std::to_string(i) +
               R"(","stageTimestamp":"2024-05-01T10:00:00Z","n":)" +
               std::to_string(i * 7919 % 100003) + "}\n";
  }
  std::string good = dir.WriteGz("a.gz", content);
  std::string bytes = TempDir::Read(good);
  ASSERT_GT(bytes.size(), 1000u);

  std::string flipped = bytes;
  for (size_t i = flipped.size() / 2; i < flipped.size() / 2 + 16; ++i) flipped[i] ^= 0x5a;
  std::string p1 = dir.Write("flipped.gz", flipped);
  std::string p2 = dir.Write("truncated.gz", bytes.substr(0, bytes.size() / 2));
  std::string p3 = dir.Write("zz_next.log", Event("next") + "\n");

  FileSourceOptions opts;
  opts.read_chunk_bytes = 4096;
  RunResult run = Read({p1, p2, p3}, opts);
  ASSERT_TRUE(run.status.ok());
  size_t corrupt = 0, cut = 0;
  for (size_t i = 0; i < run.errors.size(); ++i) {
    if (run.errors[i].kind == IngestErrorKind::kFile) {
      ++corrupt;
      EXPECT_THAT(run.messages[i], HasSubstr("gzip"));
      EXPECT_GT(run.errors[i].position.line, 1u);
      // Both files stop in the middle of a line: that record is counted, at its own line (the
      // line the corruption was found on), not silently dropped.
      ASSERT_LT(i + 1, run.errors.size());
      const IngestError& next = run.errors[i + 1];
      EXPECT_EQ(next.kind, IngestErrorKind::kMalformed);
      EXPECT_THAT(run.messages[i + 1], HasSubstr("record cut by gzip corruption"));
      EXPECT_EQ(next.position.line, run.errors[i].position.line);
      // Same "<file>:<line>: " prefix (positions' file views do not outlive the callback).
      const std::string where = run.messages[i].substr(0, run.messages[i].find(": ") + 2);
      EXPECT_THAT(run.messages[i + 1], ::testing::StartsWith(where));
    } else if (run.messages[i].find("record cut by gzip corruption") != std::string::npos) {
      ++cut;
    }
  }
  EXPECT_EQ(corrupt, 2u);
  EXPECT_EQ(cut, 2u);
  EXPECT_EQ(run.stats.events + run.stats.malformed + run.stats.skipped, run.stats.records);
  // Events before the corruption were delivered, in order, and the next file was read.
  ASSERT_GT(run.ids.size(), 100u);
  EXPECT_EQ(run.ids[0], "0");
  EXPECT_EQ(run.ids.back(), "next");
  EXPECT_LT(run.ids.size(), 10001u);
}

// Counts what a splitter delivers; the records' content is not needed here.
struct CountingSink : RecordSplitter::Sink {
  void OnRecord(const char*, size_t, size_t, uint64_t, uint64_t) override { ++records; }
  void OnOversize(uint64_t, uint64_t, uint64_t) override { ++oversize; }
  int records = 0, oversize = 0;
};

std::optional<RecordSplitter::Partial> PartialAfter(const std::string& text, size_t max = 1000) {
  RecordSplitter splitter(max);
  CountingSink sink;
  PaddedBuffer buf;
  buf.Assign(text.data(), text.size());
  splitter.Feed(buf.data(), buf.size(), buf.capacity(), sink);
  return splitter.partial();
}

TEST(RecordSplitterTest, PartialRecordIsReportedInEveryFraming) {
  // Nothing pending: complete lines, blank space, array punctuation.
  EXPECT_FALSE(PartialAfter("").has_value());
  EXPECT_FALSE(PartialAfter(" \n\n ").has_value());
  EXPECT_FALSE(PartialAfter(Event("a") + "\n" + Event("b") + "\n  ").has_value());
  EXPECT_FALSE(PartialAfter("[" + Event("a") + ",\n").has_value());
  EXPECT_FALSE(PartialAfter("{\n\"a\": 1\n}\n").has_value());

  // Undecided (no complete first line yet): starts after leading blank lines.
  auto p = PartialAfter("\n\n  {\"auditID\":");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->line, 3u);
  EXPECT_EQ(p->offset, 4u);

  // JSON lines: the unterminated last line.
  std::string lines = Event("a") + "\n" + Event("b") + "\n  {\"auditID\":\"c";
  p = PartialAfter(lines);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->line, 3u);
  EXPECT_EQ(p->offset, lines.find("{\"auditID\":\"c"));

  // JSON lines, a record being skipped for size.
  lines = Event("a") + "\n" + std::string(2000, 'x');
  p = PartialAfter(lines);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->line, 2u);
  EXPECT_EQ(p->offset, Event("a").size() + 1);

  // Structural: an array element and a pretty-printed object.
  std::string array = "[\n" + Event("a") + ",\n {\"auditID\": \"b\",";
  p = PartialAfter(array);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->line, 3u);
  EXPECT_EQ(p->offset, array.find("{\"auditID\": \"b\""));
  std::string pretty = "{\n\"a\": 1\n}\n{\n\"b\":";
  p = PartialAfter(pretty);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->line, 4u);
  EXPECT_EQ(p->offset, pretty.rfind('{'));
}

TEST(FileSourceTest, DirectoryInNameOrderSkippingDotfiles) {
  TempDir dir;
  dir.Write("b.log", Event("b") + "\n");
  dir.Write("a.log", Event("a") + "\n");
  dir.WriteGz("c.log.gz", Event("c") + "\n");
  dir.Write(".hidden", Event("hidden") + "\n");
  std::filesystem::create_directory(dir.path() + "/sub");
  dir.Write("sub/d.log", Event("d") + "\n");
  RunResult run = Read({dir.path()});
  ASSERT_TRUE(run.status.ok());
  EXPECT_THAT(run.ids, ElementsAre("a", "b", "c"));
  EXPECT_EQ(run.stats.files, 3u);
}

TEST(FileSourceTest, OversizeRecordsAreSkippedAndReportedOnce) {
  TempDir dir;
  std::string big = R"({"auditID":"big","stageTimestamp":"2024-05-01T10:00:00Z","x":")" +
                    std::string(5000, 'y') + "\"}";
  FileSourceOptions opts;
  opts.envelope.max_record_bytes = 1000;
  opts.read_chunk_bytes = 512;
  std::string lines = dir.Write("l.log", Event("1") + "\n" + big + "\n" + Event("3") + "\n");
  RunResult run = Read({lines}, opts);
  EXPECT_THAT(run.ids, ElementsAre("1", "3"));
  ASSERT_EQ(run.errors.size(), 1u);
  EXPECT_EQ(run.errors[0].kind, IngestErrorKind::kOversize);
  EXPECT_EQ(run.errors[0].position.line, 2u);
  EXPECT_THAT(run.messages[0],
              HasSubstr("record of " + std::to_string(big.size()) + " bytes exceeds limit"));

  std::string pretty = dir.Write("p.json",
                                 "{\n\"auditID\": \"0\", \"stageTimestamp\": "
                                 "\"2024-05-01T10:00:00Z\"\n}\n" +
                                     big + "\n" + Event("3"));
  run = Read({pretty}, opts);
  EXPECT_THAT(run.ids, ElementsAre("0", "3"));
  ASSERT_EQ(run.errors.size(), 1u);
  EXPECT_EQ(run.errors[0].position.line, 4u);
  EXPECT_THAT(run.messages[0],
              HasSubstr("record of " + std::to_string(big.size()) + " bytes exceeds limit"));

  // Per-event limit inside a record that fits max_record_bytes.
  FileSourceOptions ev_opts;
  ev_opts.envelope.parser.max_event_bytes = 1000;
  run = Read({lines}, ev_opts);
  EXPECT_THAT(run.ids, ElementsAre("1", "3"));
  ASSERT_EQ(run.errors.size(), 1u);
  EXPECT_EQ(run.errors[0].kind, IngestErrorKind::kMalformed);
  EXPECT_THAT(run.messages[0], HasSubstr("exceeds the limit of 1000 bytes"));
}

TEST(FileSourceTest, TruncatedLastRecordIsReported) {
  TempDir dir;
  std::string p = dir.Write("t.json",
                            "{\n\"auditID\": \"a\",\n\"stageTimestamp\": "
                            "\"2024-05-01T10:00:00Z\"\n}\n{\n\"auditID\": \"b\",\n");
  RunResult run = Read({p});
  EXPECT_THAT(run.ids, ElementsAre("a"));
  ASSERT_EQ(run.errors.size(), 1u);
  EXPECT_EQ(run.errors[0].position.line, 5u);
  EXPECT_THAT(run.messages[0], HasSubstr("invalid JSON"));
}

}  // namespace
}  // namespace vigil::ingest

namespace vigil::ingest {
namespace {

TEST(FileSourceChannelTest, ClusterComesFromTheChannelNotTheRecord) {
  TempDir dir;
  // A record cannot name its own cluster: a forged "cluster" field is just ignored.
  std::string forged = Event("a1");
  forged.insert(1, R"("cluster":"victim",)");
  std::string p = dir.Write("c.log", forged + "\n" + Event("a2") + "\n");
  FileSourceOptions opts;
  opts.envelope.cluster = "prod-eu";
  std::vector<std::string> clusters;
  Status s = ReadPaths(
      {p}, opts,
      [&](const AuditEvent& e, const SourcePosition&) { clusters.emplace_back(e.cluster); },
      [&](const IngestError&) {});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_THAT(clusters, ElementsAre("prod-eu", "prod-eu"));
}

TEST(FileSourceChannelTest, CancelStopsReading) {
  TempDir dir;
  std::string lines;
  for (int i = 0; i < 2000; ++i) lines += Event("e" + std::to_string(i)) + "\n";
  std::string p1 = dir.Write("1.log", lines);
  std::string p2 = dir.Write("2.log", lines);
  std::atomic<bool> cancel{false};
  FileSourceOptions opts;
  opts.read_chunk_bytes = 4096;
  opts.cancel = &cancel;
  int events = 0;
  Status s = ReadPaths(
      {p1, p2}, opts,
      [&](const AuditEvent&, const SourcePosition&) {
        if (++events == 10) cancel = true;
      },
      [&](const IngestError&) {});
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_GE(events, 10);
  EXPECT_LT(events, 2000);  // stopped within the first file's chunks
}

}  // namespace
}  // namespace vigil::ingest
