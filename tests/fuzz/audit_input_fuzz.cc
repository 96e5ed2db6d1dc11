// libFuzzer target over everything that reads untrusted audit input: any bytes are fed, in two
// chunks, through the record splitter (framing), the envelope decoder (EKS, AKS, GKE, EventList,
// bare events), the event parser, and the built-in pack (single-event rules, and the stateful
// rules' key rendering through a HitCollector). Nothing may crash, hang or read out of bounds.
//   cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DVIGIL_BUILD_FUZZ=ON
//         -DVIGIL_SANITIZE=address,undefined -DVIGIL_BUILD_BENCH=OFF
//   cmake --build build/fuzz --target audit_input_fuzz && build/fuzz/tests/fuzz/audit_input_fuzz
// tests/fuzz/fuzz_regression_test.cc runs the same function over seeds and mutations in CI.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "vigil/detect/rule_engine.h"
#include "vigil/detect/rule_files.h"
#include "vigil/detect/stateful_detector.h"
#include "vigil/ingest/envelope.h"
#include "vigil/ingest/padded_buffer.h"
#include "vigil/ingest/record_splitter.h"

namespace {

constexpr size_t kMaxRecordBytes = 256 << 10;

struct Harness {
  Harness() {
    auto pack = vigil::detect::LoadBuiltinPack(vigil::detect::PackContent::kRulesOnly);
    if (!pack.ok()) std::abort();
    auto compiled = vigil::detect::RuleEngine::Compile(*pack);
    if (!compiled.ok()) std::abort();
    engine = std::move(compiled).value();
    vigil::ingest::EnvelopeOptions o;
    o.cluster = "fuzz";
    o.max_record_bytes = kMaxRecordBytes;
    o.parser.max_event_bytes = kMaxRecordBytes;
    decoder = std::make_unique<vigil::ingest::EnvelopeDecoder>(o);
  }
  std::unique_ptr<vigil::detect::RuleEngine> engine;
  std::unique_ptr<vigil::ingest::EnvelopeDecoder> decoder;
};

class Sink final : public vigil::ingest::RecordSplitter::Sink {
 public:
  explicit Sink(Harness* h) : h_(h), collector_(*h->engine, &hits_, &arena_) {}
  void OnRecord(const char* data, size_t len, size_t capacity, uint64_t, uint64_t) override {
    h_->decoder->Decode(data, len, capacity, [&](const vigil::AuditEvent& event) {
      findings_.clear();
      hits_.clear();
      arena_.clear();
      h_->engine->Evaluate(event, &findings_, &collector_);
      for (const vigil::detect::DeferredHit& hit : hits_) {
        // The finding a stateful hit would raise, made again from the event.
        vigil::Finding f = h_->engine->MakeFinding(hit.unit, event);
        if (f.rule_id.empty()) std::abort();
      }
      for (const vigil::Finding& f : findings_) {
        if (f.id.empty() || f.rule_id.empty()) std::abort();
      }
    });
  }
  void OnOversize(uint64_t, uint64_t, uint64_t) override {}

 private:
  Harness* h_;
  std::vector<vigil::Finding> findings_;
  std::vector<vigil::detect::DeferredHit> hits_;
  std::string arena_;
  vigil::detect::HitCollector collector_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* harness = new Harness();  // built once, never freed (as the process lives)
  const char* text = reinterpret_cast<const char*>(data);
  // Two chunks, split where the first byte says: framing must not depend on chunk boundaries.
  const size_t cut = size == 0 ? 0 : static_cast<size_t>(data[0]) * size / 256;
  vigil::ingest::RecordSplitter splitter(kMaxRecordBytes);
  Sink sink(harness);
  vigil::ingest::PaddedBuffer chunk;
  chunk.Assign(text, cut);
  splitter.Feed(chunk.data(), chunk.size(), chunk.capacity(), sink);
  chunk.Assign(text + cut, size - cut);
  splitter.Feed(chunk.data(), chunk.size(), chunk.capacity(), sink);
  splitter.Finish(sink);
  return 0;
}
