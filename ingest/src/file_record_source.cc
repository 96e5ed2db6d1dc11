// FileRecordSource: FileSource's records, framed on a reader thread, as a RecordSource (see
// file_record_source.h).
#include "vigil/ingest/file_record_source.h"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

namespace vigil::ingest {
namespace {

// Batches framed ahead of the pipeline: the reader decompresses and frames while the pipeline
// decodes, and memory stays bounded by this many batches.
constexpr size_t kAhead = 2;
// Meta key prefix of file positions: "pos" SEP absolute path.
constexpr char kPositionPrefix[] = "pos\x1f";

// "<fingerprint> <byte offset> <line>"
std::string EncodePosition(std::string_view fingerprint, uint64_t offset, uint64_t line) {
  return std::string(fingerprint) + " " + std::to_string(offset) + " " + std::to_string(line);
}

bool DecodePosition(std::string_view text, std::string* fingerprint, ResumePoint* rp) {
  size_t a = text.find(' ');
  size_t b = a == std::string_view::npos ? a : text.find(' ', a + 1);
  if (b == std::string_view::npos) return false;
  fingerprint->assign(text.substr(0, a));
  auto num = [](std::string_view s, uint64_t* out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size();
  };
  return num(text.substr(a + 1, b - a - 1), &rp->byte_offset) && num(text.substr(b + 1), &rp->line);
}

RawRecord::Kind ProblemKind(IngestErrorKind kind) {
  switch (kind) {
    case IngestErrorKind::kMalformed:
      return RawRecord::Kind::kMalformed;
    case IngestErrorKind::kOversize:
      return RawRecord::Kind::kOversize;
    case IngestErrorKind::kFile:
      break;
  }
  return RawRecord::Kind::kNotice;
}

}  // namespace

FileRecordSource::FileRecordSource(FileRecordSourceOptions options)
    : options_(std::move(options)) {}

FileRecordSource::~FileRecordSource() {
  Stop();
  if (reader_.joinable()) reader_.join();
}

std::string FileRecordSource::PositionKey(std::string_view path) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(std::string(path), ec).lexically_normal().string();
  return std::string(kPositionPrefix) + (ec ? std::string(path) : abs);
}

Status FileRecordSource::Restore(const StateStore* store) {
  store_ = store;
  return Status::Ok();
}

void FileRecordSource::Push(std::unique_ptr<RecordBatch> batch) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return ready_.size() < kAhead || stop_.load(); });
  if (stop_.load()) return;  // dropped: nothing after a stop is applied
  ready_.push_back(std::move(batch));
  cv_.notify_all();
}

void FileRecordSource::Read(BatchLimits limits) {
  pthread_setname_np(pthread_self(), "vigil-files");
  FileSourceOptions fo;
  fo.envelope.max_record_bytes = options_.max_record_bytes;
  fo.read_chunk_bytes = options_.read_chunk_bytes;
  fo.cancel = &stop_;
  // Files are resumed where the last checkpoint left them (same content: same fingerprint).
  // Events re-read at that record are recognised by the dedup set.
  if (store_ != nullptr && options_.resume) {
    fo.resume = [this](std::string_view path,
                       std::string_view fingerprint) -> std::optional<ResumePoint> {
      auto stored = store_->GetMeta(PositionKey(path));
      if (!stored.ok() || !stored->has_value()) return std::nullopt;
      ResumePoint rp;
      std::string fp;
      if (!DecodePosition(**stored, &fp, &rp) || fp != fingerprint) return std::nullopt;
      return rp;
    };
  }
  FileSource source(fo);
  const size_t max_bytes = std::max<size_t>(limits.max_bytes, 1);
  const size_t max_records = std::max<size_t>(limits.max_records, 1);
  auto take = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    if (spare_.empty()) return std::make_unique<RecordBatch>();
    std::unique_ptr<RecordBatch> b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  };
  std::unique_ptr<RecordBatch> filling = take();
  uint64_t counted_bytes = 0;
  auto flush = [&] {
    if (filling->empty()) return;
    filling->source_bytes = source.stats().bytes_read - counted_bytes;
    counted_bytes = source.stats().bytes_read;
    Push(std::move(filling));
    filling = take();
  };
  uint32_t stream = 0;
  std::string file;  // the file being read: a new one is a new stream
  auto origin = [&](const SourcePosition& pos) {
    if (stream == 0 || pos.file != file) {
      ++stream;
      file.assign(pos.file);
    }
    uint32_t i = filling->OriginFor(stream, options_.cluster, [&](RecordOrigin& o) {
      o.name.assign(pos.file);
      o.lines = true;
    });
    RecordOrigin& o = filling->origins[i];
    if (o.key.empty() && !pos.fingerprint.empty()) o.key.assign(pos.fingerprint);
    return i;
  };
  auto on_record = [&](const char* data, size_t len, size_t, const SourcePosition& pos) {
    if (!filling->empty() && filling->bytes.size() + len > max_bytes) flush();
    filling->Add(origin(pos), pos.byte_offset, pos.line, data, len);
    if (filling->bytes.size() >= max_bytes || filling->records.size() >= max_records) flush();
  };
  auto on_error = [&](const IngestError& e) {
    filling->AddProblem(origin(e.position), ProblemKind(e.kind), e.position.byte_offset,
                        e.position.line, e.status.message());
    if (filling->records.size() >= max_records) flush();
  };
  Status s = source.ReadRecords(options_.paths, on_record, on_error);
  flush();
  std::lock_guard<std::mutex> lock(mu_);
  reader_done_ = true;
  // A stop cancels the reading on purpose: that is an end, not an error.
  reader_status_ = s.code() == StatusCode::kUnavailable && stop_.load() ? Status::Ok() : s;
  stats_ = source.stats();
  cv_.notify_all();
}

Result<RecordSource::PollResult> FileRecordSource::Poll(RecordBatch* batch,
                                                        const BatchLimits& limits,
                                                        std::chrono::milliseconds wait) {
  if (!reader_.joinable() && !ended_.load()) {
    reader_ = std::thread([this, limits] { Read(limits); });
  }
  std::unique_ptr<RecordBatch> got;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [&] { return !ready_.empty() || reader_done_; });
    if (!ready_.empty()) {
      got = std::move(ready_.front());
      ready_.pop_front();
      cv_.notify_all();
    } else if (!reader_done_) {
      return PollResult::kIdle;
    }
  }
  if (got) {
    std::swap(*batch, *got);  // the caller's empty batch goes back to the reader
    std::lock_guard<std::mutex> lock(mu_);
    spare_.push_back(std::move(got));
    return PollResult::kRecords;
  }
  if (reader_.joinable()) reader_.join();
  ended_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (!reader_status_.ok()) return reader_status_;
  return PollResult::kEnd;
}

void FileRecordSource::Applied(const RecordOrigin& origin, const RawRecord& record) {
  if (store_ == nullptr || record.kind == RawRecord::Kind::kNotice ||
      record.kind == RawRecord::Kind::kOversize) {
    return;
  }
  if (last_ == nullptr || origin.stream != last_stream_) {
    auto [it, inserted] = positions_.try_emplace(origin.stream);
    if (inserted) {
      it->second.path = origin.name;
      it->second.fingerprint = origin.key;
    }
    last_ = &it->second;
    last_stream_ = origin.stream;
  }
  last_->offset = record.position;
  last_->line = record.line;
  last_->dirty = true;
}

uint64_t FileRecordSource::TakePositions(std::vector<std::pair<std::string, std::string>>* meta) {
  for (auto it = positions_.begin(); it != positions_.end();) {
    Position& p = it->second;
    if (p.dirty && !p.fingerprint.empty()) {
      meta->emplace_back(PositionKey(p.path), EncodePosition(p.fingerprint, p.offset, p.line));
    }
    p.dirty = false;
    if (&p != last_) {
      it = positions_.erase(it);  // done with: only the file being read may move again
    } else {
      ++it;
    }
  }
  const uint64_t token = ++tokens_;
  if (ended_.load() && end_token_.load() == 0) end_token_ = token;
  return token;
}

void FileRecordSource::OnDurable(uint64_t token) {
  uint64_t was = durable_token_.load();
  while (was < token && !durable_token_.compare_exchange_weak(was, token)) {
  }
}

void FileRecordSource::Stop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

SourceHealth FileRecordSource::Health() const {
  SourceHealth h;
  const uint64_t end = end_token_.load();
  h.ready = ended_.load() && end != 0 && durable_token_.load() >= end;
  if (!h.ready) h.why = ended_.load() ? "writing the last checkpoint" : "reading files";
  return h;
}

FileSourceStats FileRecordSource::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace vigil::ingest
