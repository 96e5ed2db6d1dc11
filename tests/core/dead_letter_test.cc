// DeadLetter's JSON rendering, sort key and cursor, and MemoryStateStore as a DeadLetterStore.
#include "vigil/core/dead_letter.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "vigil/core/memory_state_store.h"

namespace vigil {
namespace {

DeadLetter MakeDl(int64_t received_us, std::string source = "file", uint64_t line = 0) {
  DeadLetter dl;
  dl.received_us = received_us;
  dl.source = std::move(source);
  dl.origin = "/var/log/audit.log";
  dl.line = line;
  SetDeadLetterRecord("{\"kind\":", &dl);
  return dl;
}

simdjson::dom::element Parse(simdjson::dom::parser* parser, const std::string& json) {
  simdjson::dom::element e;
  EXPECT_EQ(parser->parse(json).get(e), simdjson::SUCCESS) << json;
  return e;
}

TEST(DeadLetterTest, JsonHasEveryFieldAndNullsForUnknownPositions) {
  DeadLetter dl;
  dl.received_us = 1741069338123456;
  dl.source = "kafka";
  dl.origin = "audit";
  dl.partition = 3;
  dl.offset = 42;
  dl.cluster = "prod";
  dl.error = "malformed JSON: unclosed string";
  SetDeadLetterRecord("{\"kind\":\"Event\"", &dl);
  EXPECT_EQ(DeadLetterToJson(dl),
            R"({"received":"2025-03-04T06:22:18.123456Z","source":"kafka","origin":"audit",)"
            R"("partition":3,"offset":42,"line":null,"cluster":"prod",)"
            R"("error":"malformed JSON: unclosed string","size":15,"head":"{\"kind\":\"Event\"",)"
            R"("head_truncated":false})");
  DeadLetter file = MakeDl(0, "file", 17);
  file.offset = 1234;
  const std::string json = DeadLetterToJson(file);
  EXPECT_NE(json.find(R"("partition":null,"offset":1234,"line":17,)"), std::string::npos) << json;
}

TEST(DeadLetterTest, AnyHeadBytesGiveValidJsonAndBase64WhenNotUtf8) {
  simdjson::dom::parser parser;
  // Every single byte, and a few sequences, as a whole head.
  for (int b = 0; b < 256; ++b) {
    DeadLetter dl = MakeDl(1);
    dl.head = std::string(1, static_cast<char>(b)) + "\xE2\x82";  // + a cut sequence
    dl.size = 1000;
    simdjson::dom::element e = Parse(&parser, DeadLetterToJson(dl));
    std::string_view b64;
    EXPECT_EQ(e["head_base64"].get_string().get(b64), simdjson::SUCCESS) << b;
    EXPECT_TRUE(e["head_truncated"].get_bool().value());
  }
  DeadLetter ok = MakeDl(1);
  ok.head = "caf\xC3\xA9 \xF0\x9F\x98\x80 \x1b[2J\x7f\"\\";
  simdjson::dom::element e = Parse(&parser, DeadLetterToJson(ok));
  EXPECT_EQ(std::string(e["head"].get_string().value()), ok.head) << "valid UTF-8 is exact";
  EXPECT_NE(e["head_base64"].error(), simdjson::SUCCESS) << "no base64 when head is exact";
  DeadLetter bad = MakeDl(1);
  bad.head = std::string("\xff\x00\x9b", 3);
  const std::string json = DeadLetterToJson(bad);
  // Invalid bytes become U+FFFD (as UTF-8), controls are escaped.
  EXPECT_NE(json.find("\"head\":\"\xEF\xBF\xBD\\u0000\xEF\xBF\xBD\""), std::string::npos) << json;
  EXPECT_NE(json.find(R"("head_base64":"/wCb")"), std::string::npos) << json;
}

TEST(DeadLetterTest, SetRecordKeepsTheFirstBytesAndTheFullSize) {
  DeadLetter dl;
  SetDeadLetterRecord(std::string(5000, 'x'), &dl);
  EXPECT_EQ(dl.head.size(), kDeadLetterHeadBytes);
  EXPECT_EQ(dl.size, 5000u);
  dl.error = std::string(kDeadLetterTextBytes + 1, 'e');
  dl.head = std::string(kDeadLetterHeadBytes + 1, 'h');
  TruncateDeadLetter(&dl);
  EXPECT_EQ(dl.error.size(), kDeadLetterTextBytes);
  EXPECT_EQ(dl.head.size(), kDeadLetterHeadBytes);
}

TEST(DeadLetterTest, KeysSortByTimeThenSequence) {
  const std::vector<std::pair<int64_t, uint64_t>> ordered = {
      {INT64_MIN, 0},         {-5, 9}, {-1, 0}, {0, 0}, {0, 1}, {1, 0}, {1741069338000000, 0},
      {INT64_MAX, UINT64_MAX}};
  for (size_t i = 0; i < ordered.size(); ++i) {
    const std::string k = MakeDeadLetterKey(ordered[i].first, ordered[i].second);
    EXPECT_EQ(k.size(), kDeadLetterKeyBytes);
    EXPECT_EQ(DeadLetterKeyTime(k), ordered[i].first);
    EXPECT_EQ(DeadLetterKeySeq(k), ordered[i].second);
    if (i > 0) {
      EXPECT_LT(MakeDeadLetterKey(ordered[i - 1].first, ordered[i - 1].second), k) << i;
    }
  }
  EXPECT_EQ(DeadLetterKeyTime("short"), std::nullopt);
}

TEST(DeadLetterTest, CursorRoundTripsAndRejectsTampering) {
  const std::string key = MakeDeadLetterKey(1741069338000000, 7);
  const std::string c = EncodeDeadLetterCursor(key);
  EXPECT_EQ(DecodeDeadLetterCursor(c), key);
  for (size_t i = 0; i < c.size(); ++i) {
    std::string t = c;
    t[i] = t[i] == 'a' ? 'b' : 'a';
    EXPECT_EQ(DecodeDeadLetterCursor(t), std::nullopt) << i;
  }
  std::string upper = c;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (upper != c) {
    EXPECT_EQ(DecodeDeadLetterCursor(upper), std::nullopt);
  }
  EXPECT_EQ(DecodeDeadLetterCursor(""), std::nullopt);
  EXPECT_EQ(DecodeDeadLetterCursor(c.substr(2)), std::nullopt);
  EXPECT_EQ(DecodeDeadLetterCursor(c + "00"), std::nullopt);
}

TEST(MemoryDeadLettersTest, KeepsTheNewestUpToItsBoundAndPagesNewestFirst) {
  MemoryStateStore store(10);
  StateCheckpoint cp;
  for (int i = 0; i < 25; ++i) cp.dead_letters.push_back(MakeDl(1000 + i / 2, "file", i));
  ASSERT_TRUE(store.Commit(cp).ok());
  EXPECT_EQ(store.DeadLetterCount(), 10u);
  DeadLetterFilter f;
  f.limit = 4;
  std::vector<uint64_t> lines;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store.ListDeadLetters(f);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& dl : page->dead_letters) lines.push_back(dl.line);
    if (page->next_cursor.empty()) break;
    f.cursor = page->next_cursor;
  }
  EXPECT_EQ(lines, (std::vector<uint64_t>{24, 23, 22, 21, 20, 19, 18, 17, 16, 15}));
  f.cursor = "nope";
  EXPECT_EQ(store.ListDeadLetters(f).status().code(), StatusCode::kInvalidArgument);
  f.cursor.clear();
  f.limit = 0;
  EXPECT_EQ(store.ListDeadLetters(f).status().code(), StatusCode::kInvalidArgument);
  f.limit = 100;
  f.source = "kafka";
  EXPECT_TRUE(store.ListDeadLetters(f)->dead_letters.empty());
}

TEST(MemoryDeadLettersTest, CheckpointWithOnlyDeadLettersIsNotEmpty) {
  StateCheckpoint cp;
  EXPECT_TRUE(cp.empty());
  cp.dead_letters.push_back(MakeDl(1));
  EXPECT_FALSE(cp.empty());
  cp.clear();
  EXPECT_TRUE(cp.empty());
  EXPECT_TRUE(cp.dead_letters.empty());
}

}  // namespace
}  // namespace vigil
