// Tests for resuming a FileSource where an earlier run stopped: positions, framings, gzip,
// fingerprints, the cases where the resume point is ignored, and the resume counters.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "vigil/ingest/file_source.h"
#include "vigil/ingest/padded_buffer.h"
#include "vigil/ingest/record_splitter.h"

namespace vigil::ingest {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::TempDir;

std::string Event(const std::string& id, const std::string& extra = "") {
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":")" + id +
         R"(","verb":"get",)" + extra + R"("stageTimestamp":"2024-05-01T10:00:00Z"})";
}

std::string PrettyEvent(const std::string& id) {
  return "{\n  \"kind\": \"Event\",\n  \"auditID\": \"" + id +
         "\",\n  \"stageTimestamp\": \"2024-05-01T10:00:00Z\"\n}\n";
}

// What a run delivered, copied out of the callbacks.
struct Pos {
  uint64_t line;
  uint64_t offset;
  bool operator==(const Pos&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Pos& p) { return os << p.line << "@" << p.offset; }

struct Outcome {
  std::vector<std::string> ids;
  std::vector<Pos> positions;
  std::vector<Pos> error_positions;
  std::vector<std::string> fingerprints;  // of each event
  std::vector<std::string> resume_calls;  // "<path> <fingerprint>"
  FileSourceStats stats;
  Status status;
};

Outcome ReadWith(const std::vector<std::string>& paths, FileSourceOptions opts,
                 std::function<std::optional<ResumePoint>(std::string_view, std::string_view)>
                     resume = nullptr) {
  Outcome run;
  if (resume) {
    opts.resume = [&run, resume](std::string_view path, std::string_view fp) {
      run.resume_calls.push_back(std::string(path) + " " + std::string(fp));
      return resume(path, fp);
    };
  }
  run.status = ReadPaths(
      paths, opts,
      [&](const AuditEvent& e, const SourcePosition& pos) {
        run.ids.emplace_back(e.audit_id);
        run.positions.push_back({pos.line, pos.byte_offset});
        run.fingerprints.emplace_back(pos.fingerprint);
      },
      [&](const IngestError& err) {
        run.error_positions.push_back({err.position.line, err.position.byte_offset});
      },
      &run.stats);
  return run;
}

std::function<std::optional<ResumePoint>(std::string_view, std::string_view)> At(Pos p) {
  return [p](std::string_view, std::string_view) {
    return std::optional<ResumePoint>(ResumePoint{p.offset, p.line});
  };
}

template <typename T>
std::vector<T> From(const std::vector<T>& v, size_t k) {
  return std::vector<T>(v.begin() + static_cast<ptrdiff_t>(k), v.end());
}

// JSON lines whose first line is longer than the fingerprint (so the framing needs more), a
// malformed line after the middle, blank and CRLF lines.
std::string JsonLinesContent() {
  std::string s = Event("0", R"("pad":")" + std::string(6000, 'x') + R"(",)") + "\n";
  for (int i = 1; i < 400; ++i) {
    s += Event(std::to_string(i)) + (i % 50 == 0 ? "\r\n\n" : "\n");
    if (i == 250) s += "{\"auditID\":\"broken\n";
  }
  return s;
}

// Pretty-printed objects, some compact one-line objects and two concatenated on a line: the
// file's framing (structural, from its first line) differs from what a line in the middle
// alone would suggest.
std::string StructuralContent() {
  std::string s;
  for (int i = 0; i < 300; ++i) {
    std::string id = std::to_string(i);
    if (i % 7 == 3) {
      s += Event(id) + "\n";
    } else if (i % 7 == 5) {
      s += Event(id) + " ";
    } else {
      s += PrettyEvent(id);
    }
    if (i == 200) s += "{\"kind\": \"Event\", \"auditID\": 5}\n";  // malformed
  }
  return s;
}

struct ResumeCase {
  const char* name;
  std::string (*content)();
  bool gz;
  size_t chunk;
};

void PrintTo(const ResumeCase& c, std::ostream* os) { *os << c.name; }

class ResumeTest : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(ResumeTest, ResumingAtARecordGivesTheRemainingEventsAtTheSamePositions) {
  const ResumeCase& c = GetParam();
  TempDir dir;
  std::string content = c.content();
  std::string p = c.gz ? dir.WriteGz("f.gz", content) : dir.Write("f.log", content);
  FileSourceOptions opts;
  opts.read_chunk_bytes = c.chunk;
  Outcome full = ReadWith({p}, opts);
  ASSERT_TRUE(full.status.ok()) << full.status.ToString();
  ASSERT_GT(full.ids.size(), 250u);
  ASSERT_EQ(full.error_positions.size(), 1u);
  EXPECT_EQ(full.stats.bytes_read, content.size());
  EXPECT_EQ(full.stats.resumed_files, 0u);
  EXPECT_EQ(full.fingerprints[0].size(), 64u);

  // Resume points inside the first 4096 bytes, just past them, in the middle, before and after
  // the malformed record, and the last record.
  std::vector<size_t> picks = {
      1, 2, 3, 5, 40, full.ids.size() / 2, 190, 240, 260, full.ids.size() - 1};
  for (size_t k : picks) {
    SCOPED_TRACE("resume at event " + std::to_string(k) + " " +
                 ::testing::PrintToString(full.positions[k]));
    Outcome resumed = ReadWith({p}, opts, At(full.positions[k]));
    ASSERT_TRUE(resumed.status.ok()) << resumed.status.ToString();
    EXPECT_EQ(resumed.ids, From(full.ids, k));
    EXPECT_EQ(resumed.positions, From(full.positions, k));
    // The malformed record is reported at its absolute position, or not at all if skipped.
    if (full.error_positions[0].offset >= full.positions[k].offset) {
      EXPECT_EQ(resumed.error_positions, full.error_positions);
    } else {
      EXPECT_TRUE(resumed.error_positions.empty());
    }
    EXPECT_EQ(resumed.stats.resumed_files, 1u);
    EXPECT_EQ(resumed.stats.bytes_skipped, full.positions[k].offset);
    EXPECT_EQ(resumed.stats.bytes_read, content.size() - full.positions[k].offset);
    EXPECT_EQ(resumed.stats.events, full.ids.size() - k);
    ASSERT_EQ(resumed.resume_calls.size(), 1u);
    EXPECT_EQ(resumed.resume_calls[0], p + " " + full.fingerprints[0]);
    for (const std::string& fp : resumed.fingerprints) EXPECT_EQ(fp, full.fingerprints[0]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Framings, ResumeTest,
    ::testing::Values(ResumeCase{"JsonLinesPlain", JsonLinesContent, false, 256 << 10},
                      ResumeCase{"JsonLinesGz", JsonLinesContent, true, 256 << 10},
                      ResumeCase{"JsonLinesGzSmallChunks", JsonLinesContent, true, 1000},
                      ResumeCase{"JsonLinesPlainSmallChunks", JsonLinesContent, false, 333},
                      ResumeCase{"StructuralPlain", StructuralContent, false, 256 << 10},
                      ResumeCase{"StructuralGz", StructuralContent, true, 256 << 10},
                      ResumeCase{"StructuralGzSmallChunks", StructuralContent, true, 777}),
    [](const ::testing::TestParamInfo<ResumeCase>& info) { return info.param.name; });

TEST(FileResumeTest, FingerprintMismatchReadsFromTheStart) {
  TempDir dir;
  std::string old_content, new_content;
  for (int i = 0; i < 100; ++i) {
    old_content += Event("old" + std::to_string(i)) + "\n";
    new_content += Event("new" + std::to_string(i)) + "\n";
  }
  std::string p = dir.Write("audit.log", old_content);
  Outcome first = ReadWith({p}, {});
  ASSERT_EQ(first.ids.size(), 100u);
  const std::string saved_fp = first.fingerprints[50];
  const Pos saved = first.positions[50];

  // The same content resumes; rotated (new) content under the same name is read in full.
  auto resume = [&](std::string_view, std::string_view fp) -> std::optional<ResumePoint> {
    if (fp != saved_fp) return std::nullopt;
    return ResumePoint{saved.offset, saved.line};
  };
  Outcome same = ReadWith({p}, {}, resume);
  EXPECT_EQ(same.ids.size(), 50u);
  EXPECT_EQ(same.stats.resumed_files, 1u);

  dir.Write("audit.log", new_content);
  Outcome rotated = ReadWith({p}, {}, resume);
  ASSERT_EQ(rotated.ids.size(), 100u);
  EXPECT_EQ(rotated.ids[0], "new0");
  EXPECT_EQ(rotated.positions[0], (Pos{1, 0}));
  EXPECT_NE(rotated.fingerprints[0], saved_fp);
  EXPECT_EQ(rotated.resume_calls.size(), 1u);
  EXPECT_EQ(rotated.stats.resumed_files, 0u);
  EXPECT_EQ(rotated.stats.bytes_skipped, 0u);
}

TEST(FileResumeTest, ArrayFramedFileIgnoresTheResumePoint) {
  TempDir dir;
  std::string content = "[\n";
  for (int i = 0; i < 200; ++i) content += (i ? ",\n  " : "  ") + Event(std::to_string(i));
  content += "\n]\n";
  for (bool gz : {false, true}) {
    std::string p = gz ? dir.WriteGz("a.json.gz", content) : dir.Write("a.json", content);
    Outcome full = ReadWith({p}, {});
    ASSERT_EQ(full.ids.size(), 200u);
    Outcome resumed = ReadWith({p}, {}, At(full.positions[150]));
    EXPECT_EQ(resumed.ids, full.ids);
    EXPECT_EQ(resumed.positions, full.positions);
    EXPECT_EQ(resumed.resume_calls.size(), 1u);  // asked, then ignored
    EXPECT_EQ(resumed.stats.resumed_files, 0u);
    EXPECT_EQ(resumed.stats.bytes_skipped, 0u);
    EXPECT_EQ(resumed.stats.bytes_read, content.size());
  }
}

TEST(FileResumeTest, OffsetPastTheEndReadsFromTheStart) {
  TempDir dir;
  std::string small = Event("a") + "\n" + Event("b") + "\n";  // within the first 4096 bytes
  std::string large;
  for (int i = 0; i < 300; ++i) large += Event(std::to_string(i)) + "\n";
  ASSERT_GT(large.size(), 20000u);
  for (const std::string* content : {&small, &large}) {
    for (bool gz : {false, true}) {
      SCOPED_TRACE(std::to_string(content->size()) + (gz ? " gz" : " plain"));
      std::string p = gz ? dir.WriteGz("f.gz", *content) : dir.Write("f.log", *content);
      FileSourceOptions opts;
      opts.read_chunk_bytes = 4000;
      Outcome full = ReadWith({p}, opts);
      for (uint64_t past : {content->size() + 1, content->size() + 100000}) {
        Outcome resumed = ReadWith({p}, opts, At(Pos{1000, past}));
        EXPECT_EQ(resumed.ids, full.ids);
        EXPECT_EQ(resumed.positions, full.positions);
        EXPECT_EQ(resumed.stats.resumed_files, 0u);
        EXPECT_EQ(resumed.stats.bytes_skipped, 0u);
        EXPECT_EQ(resumed.stats.bytes_read, content->size());
        EXPECT_EQ(resumed.stats.file_errors, 0u);
      }
      // Exactly at the end: nothing left to read, and no error.
      Outcome at_end = ReadWith({p}, opts, At(Pos{1000, content->size()}));
      EXPECT_TRUE(at_end.ids.empty());
      EXPECT_EQ(at_end.stats.resumed_files, 1u);
      EXPECT_EQ(at_end.stats.bytes_skipped, content->size());
      EXPECT_EQ(at_end.stats.file_errors, 0u);
    }
  }
}

TEST(FileResumeTest, FingerprintIsOfTheFirst4096DecompressedBytes) {
  TempDir dir;
  std::string content;
  for (int i = 0; content.size() < 10000; ++i) content += Event(std::to_string(i)) + "\n";
  std::string plain = dir.Write("f.log", content);
  std::string gz = dir.WriteGz("f.log.gz", content);
  std::vector<std::string> fps;
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{100}, size_t{4095}, size_t{4096}, size_t{4097},
                       size_t{1} << 20}) {
    FileSourceOptions opts;
    opts.read_chunk_bytes = chunk;
    Outcome run = ReadWith({plain, gz}, opts);
    ASSERT_FALSE(run.fingerprints.empty());
    // Every event of both files carries the same fingerprint.
    for (const std::string& fp : run.fingerprints) EXPECT_EQ(fp, run.fingerprints[0]);
    fps.push_back(run.fingerprints[0]);
  }
  for (const std::string& fp : fps) EXPECT_EQ(fp, fps[0]);
  EXPECT_EQ(fps[0].size(), 64u);
  EXPECT_EQ(fps[0].find_first_not_of("0123456789abcdef"), std::string::npos);

  // Only the first 4096 bytes count.
  std::string changed_late = content;
  changed_late[5000] = changed_late[5000] == '1' ? '2' : '1';
  std::string changed_early = content;
  changed_early[4095] = changed_early[4095] == '\n' ? ' ' : '\n';
  Outcome late = ReadWith({dir.Write("late.log", changed_late)}, {});
  Outcome early = ReadWith({dir.Write("early.log", changed_early)}, {});
  ASSERT_FALSE(late.fingerprints.empty());
  ASSERT_FALSE(early.fingerprints.empty());
  EXPECT_EQ(late.fingerprints[0], fps[0]);
  EXPECT_NE(early.fingerprints[0], fps[0]);

  // A short file: the SHA-256 of all of it (sha256sum of these 8 bytes).
  Outcome tiny = ReadWith({dir.WriteGz("tiny.gz", "{\"a\":1}\n")}, {},
                          [](std::string_view, std::string_view) { return std::nullopt; });
  ASSERT_EQ(tiny.resume_calls.size(), 1u);
  EXPECT_THAT(tiny.resume_calls[0],
              HasSubstr(" e346432021b04179518d9614f3560ccd71354a4ee101ddcb893d6959a9d6301c"));
}

TEST(FileResumeTest, StatsOverSeveralFiles) {
  TempDir dir;
  std::string a, b;
  for (int i = 0; i < 100; ++i) {
    a += Event("a" + std::to_string(i)) + "\n";
    b += Event("b" + std::to_string(i)) + "\n";
  }
  std::string pa = dir.WriteGz("a.gz", a);
  std::string pb = dir.Write("b.log", b);
  std::string pc = dir.Write("c.log", "");  // empty: not asked
  Outcome full = ReadWith({pa, pb, pc}, {});
  ASSERT_EQ(full.ids.size(), 200u);
  const Pos pa_at = full.positions[30], pb_at = full.positions[180];
  Outcome resumed = ReadWith(
      {pa, pb, pc}, {}, [&](std::string_view path, std::string_view) -> std::optional<ResumePoint> {
        Pos at = path == pa ? pa_at : pb_at;
        return ResumePoint{at.offset, at.line};
      });
  EXPECT_EQ(resumed.ids.size(), 70u + 20u);
  EXPECT_EQ(resumed.ids[0], "a30");
  EXPECT_EQ(resumed.ids[70], "b80");
  EXPECT_EQ(resumed.resume_calls.size(), 2u);
  EXPECT_EQ(resumed.stats.files, 3u);
  EXPECT_EQ(resumed.stats.resumed_files, 2u);
  EXPECT_EQ(resumed.stats.bytes_skipped, pa_at.offset + pb_at.offset);
  EXPECT_EQ(resumed.stats.bytes_read, a.size() + b.size() - pa_at.offset - pb_at.offset);
  EXPECT_EQ(resumed.stats.file_errors, 1u);  // the empty file, as before
}

TEST(RecordSplitterTest, ResetAtAPositionReportsAbsolutePositions) {
  struct Sink : RecordSplitter::Sink {
    void OnRecord(const char*, size_t, size_t, uint64_t line, uint64_t offset) override {
      records.push_back({line, offset});
    }
    void OnOversize(uint64_t, uint64_t, uint64_t) override {}
    std::vector<Pos> records;
  };
  // The rest of a file from line 10, offset 500: one-line objects, but the file is structural.
  std::string rest = Event("x") + "\n{\n\"a\": 1\n}\n";
  PaddedBuffer buf;
  buf.Assign(rest.data(), rest.size());
  RecordSplitter splitter(1 << 20);
  Sink sink;
  splitter.Reset(10, 500, RecordSplitter::Framing::kStructural);
  splitter.Feed(buf.data(), buf.size(), buf.capacity(), sink);
  splitter.Finish(sink);
  EXPECT_THAT(sink.records, ElementsAre(Pos{10, 500}, Pos{11, 500 + Event("x").size() + 1}));

  // Undecided framing decides from the resumed bytes, still at absolute positions.
  Sink sink2;
  splitter.Reset(10, 500);
  std::string lines = "\n" + Event("y") + "\n";
  buf.Assign(lines.data(), lines.size());
  ASSERT_TRUE(splitter.partial() == std::nullopt);
  splitter.Feed(buf.data(), 3, buf.capacity(), sink2);
  ASSERT_TRUE(splitter.partial().has_value());
  EXPECT_EQ(splitter.partial()->line, 11u);
  EXPECT_EQ(splitter.partial()->offset, 501u);
  splitter.Feed(buf.data() + 3, buf.size() - 3, buf.capacity() - 3, sink2);
  splitter.Finish(sink2);
  EXPECT_THAT(sink2.records, ElementsAre(Pos{11, 501}));

  EXPECT_EQ(RecordSplitter::DetectFraming("[", 1, false, 100),
            RecordSplitter::Framing::kStructural);
  EXPECT_EQ(RecordSplitter::DetectFraming("{\"a\"", 4, false, 100),
            RecordSplitter::Framing::kUndecided);
  EXPECT_EQ(RecordSplitter::DetectFraming("{\"a\":1}\n", 8, false, 100),
            RecordSplitter::Framing::kJsonLines);
  EXPECT_EQ(RecordSplitter::DetectFraming("{\n", 2, false, 100),
            RecordSplitter::Framing::kStructural);
}

}  // namespace
}  // namespace vigil::ingest
