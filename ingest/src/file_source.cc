// FileSource: files, .gz files and directories -> records -> AuditEvents (see file_source.h).
#include "vigil/ingest/file_source.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

namespace vigil::ingest {
namespace {

Status PositionedStatus(const SourcePosition& pos, const Status& status) {
  return Status(status.code(),
                std::string(pos.file) + ":" + std::to_string(pos.line) + ": " + status.message());
}

constexpr size_t kFingerprintBytes = 4096;

std::string Sha256Hex(const char* data, size_t n) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data, n, md, &len, EVP_sha256(), nullptr) != 1) return std::string();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return out;
}

// Appends up to `n` decompressed bytes to `buf` (fewer only at the end of the file or on an
// error). Returns false on a read error, with zlib's message in *error; sets *eof at the end.
bool ReadInto(gzFile gz, PaddedBuffer& buf, size_t n, bool* eof, std::string* error) {
  size_t want = buf.size() + n;
  buf.Reserve(want);
  while (buf.size() < want) {
    int got = gzread(gz, buf.data() + buf.size(), static_cast<unsigned>(want - buf.size()));
    if (got > 0) buf.Resize(buf.size() + static_cast<size_t>(got));
    int errnum = Z_OK;
    const char* msg = gzerror(gz, &errnum);
    if (got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
      *error = msg ? msg : "unknown error";
      return false;
    }
    if (got == 0) {
      *eof = true;
      break;
    }
  }
  return true;
}

char FirstNonSpace(const PaddedBuffer& buf) {
  for (size_t i = 0; i < buf.size(); ++i) {
    char c = buf.data()[i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return c;
  }
  return '\0';
}

}  // namespace

class FileSource::Sink : public RecordSplitter::Sink {
 public:
  Sink(FileSource* source, std::string_view file, const Handlers& handlers)
      : source_(source), file_(file), fingerprint_(source->fingerprint_), handlers_(handlers) {}

  void OnRecord(const char* data, size_t len, size_t capacity, uint64_t line,
                uint64_t offset) override {
    FileSourceStats& st = source_->stats_;
    ++st.records;
    SourcePosition pos{file_, line, offset, fingerprint_};
    if (handlers_.on_record != nullptr) {
      (*handlers_.on_record)(data, len, capacity, pos);
      return;
    }
    DecodeRecord(source_->decoder_, data, len, capacity, pos, &st, *handlers_.on_event,
                 handlers_.on_error);
  }

  // A record begun before unreadable data and never completed: counted as a malformed record.
  void OnCut(const RecordSplitter::Partial& cut, std::string_view why) {
    FileSourceStats& st = source_->stats_;
    ++st.records;
    ++st.malformed;
    SourcePosition pos{file_, cut.line, cut.offset, fingerprint_};
    handlers_.on_error(IngestError{IngestErrorKind::kMalformed, pos,
                                   PositionedStatus(pos, Status::Corruption(std::string(why)))});
  }

  void OnOversize(uint64_t bytes, uint64_t line, uint64_t offset) override {
    ++source_->stats_.oversize;
    SourcePosition pos{file_, line, offset, fingerprint_};
    Status s = Status::ResourceExhausted(
        "record of " + std::to_string(bytes) + " bytes exceeds limit of " +
        std::to_string(source_->options_.envelope.max_record_bytes) + " bytes");
    handlers_.on_error(IngestError{IngestErrorKind::kOversize, pos, PositionedStatus(pos, s)});
  }

 private:
  FileSource* source_;
  std::string_view file_;
  std::string_view fingerprint_;  // source_->fingerprint_, final before the Sink is made
  const Handlers& handlers_;
};

void DecodeRecord(EnvelopeDecoder& decoder, const char* data, size_t len, size_t capacity,
                  const SourcePosition& pos, FileSourceStats* stats, FileEventFn on_event,
                  FileErrorFn on_error) {
  DecodeResult r =
      decoder.Decode(data, len, capacity, [&](const AuditEvent& event) { on_event(event, pos); });
  stats->events += r.events;
  stats->malformed += r.malformed;
  stats->skipped += r.skipped;
  stats->dropped_fields += r.report.dropped_fields;
  if (r.malformed > 0) {
    Status reason = r.first_error;
    if (r.malformed > 1) {
      reason = Status(reason.code(), reason.message() + " (and " + std::to_string(r.malformed - 1) +
                                         " more items)");
    }
    on_error(IngestError{IngestErrorKind::kMalformed, pos, PositionedStatus(pos, reason)});
  }
}

FileSource::FileSource(FileSourceOptions options)
    : options_(options), decoder_(options.envelope), splitter_(options.envelope.max_record_bytes) {
  if (options_.read_chunk_bytes == 0) options_.read_chunk_bytes = 256 << 10;
}

Status FileSource::ReadFile(const std::string& path, FileEventFn on_event, FileErrorFn on_error) {
  return ReadOne(path, Handlers{&on_event, nullptr, on_error});
}

Status FileSource::ReadPaths(const std::vector<std::string>& paths, FileEventFn on_event,
                             FileErrorFn on_error) {
  return ReadAll(paths, Handlers{&on_event, nullptr, on_error});
}

Status FileSource::ReadRecords(const std::vector<std::string>& paths, FileRecordFn on_record,
                               FileErrorFn on_error) {
  return ReadAll(paths, Handlers{nullptr, &on_record, on_error});
}

Status FileSource::ReadOne(const std::string& path, const Handlers& handlers) {
  const FileErrorFn& on_error = handlers.on_error;
  fingerprint_.clear();
  auto file_error = [&](const Status& s) {
    ++stats_.file_errors;
    SourcePosition pos{path, splitter_.line(), splitter_.offset(), fingerprint_};
    on_error(IngestError{IngestErrorKind::kFile, pos, PositionedStatus(pos, s)});
  };
  // gzread reads plain files transparently, so one code path serves both.
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) {
    Status s = Status::IoError("cannot open " + path);
    splitter_.Reset();
    file_error(s);
    return s;
  }
  ++stats_.files;
  gzbuffer(gz, 128 << 10);
  splitter_.Reset();

  // The first bytes give the fingerprint, the framing and where to start.
  bool eof = false;
  std::string read_error;
  head_.clear();
  bool ok = ReadInto(gz, head_, kFingerprintBytes, &eof, &read_error);
  if (!head_.empty()) {
    fingerprint_ = Sha256Hex(head_.data(), std::min(head_.size(), kFingerprintBytes));
  }
  Sink sink(this, path, handlers);
  uint64_t file_bytes = head_.size();  // decompressed bytes read or skipped so far
  uint64_t start = 0;                  // offset of the first byte framed
  bool rewind = false;                 // gz has moved past head_: read again from the start
  if (ok && !head_.empty() && options_.resume) {
    std::optional<ResumePoint> point = options_.resume(path, fingerprint_);
    if (point && point->byte_offset > 0 && FirstNonSpace(head_) == '{') {
      // A file's framing is decided by its first line, which may reach past the fingerprint.
      const size_t max = options_.envelope.max_record_bytes;
      auto framing = RecordSplitter::DetectFraming(head_.data(), head_.size(), eof, max);
      while (ok && framing == RecordSplitter::Framing::kUndecided) {
        ok = ReadInto(gz, head_, options_.read_chunk_bytes, &eof, &read_error);
        framing = RecordSplitter::DetectFraming(head_.data(), head_.size(), eof, max);
      }
      file_bytes = head_.size();
      const uint64_t offset = point->byte_offset;
      bool resume = ok;
      if (ok && offset > head_.size()) {
        if (eof) {
          resume = false;  // past the end: read from the start
        } else if (gzdirect(gz)) {
          // A plain file: its size is known and seeking skips without reading.
          std::error_code ec;
          uintmax_t size = std::filesystem::file_size(path, ec);
          resume = !ec && offset <= size;
          if (resume && gzseek(gz, static_cast<z_off_t>(offset), SEEK_SET) < 0) {
            resume = false;
            rewind = true;
          }
        } else {
          // Compressed: decompress and discard up to the offset.
          uint64_t left = offset - head_.size();
          while (left > 0 && !eof && !Cancelled()) {
            chunk_.clear();
            if (!ReadInto(gz, chunk_, std::min<uint64_t>(left, options_.read_chunk_bytes), &eof,
                          &read_error)) {
              ok = false;
              break;
            }
            left -= chunk_.size();
          }
          if (left > 0 && ok && !Cancelled()) {
            resume = false;  // past the end
            rewind = true;
          }
          file_bytes = offset - left;
        }
      }
      if (resume && !Cancelled()) {
        ++stats_.resumed_files;
        stats_.bytes_skipped += offset;
        splitter_.Reset(std::max<uint64_t>(point->line, 1), offset, framing);
        start = offset;
        file_bytes = std::max<uint64_t>(file_bytes, offset);
      }
    }
  }
  if (rewind) {
    head_.clear();
    start = 0;
    file_bytes = 0;
    if (gzrewind(gz) != 0) {
      read_error = "cannot rewind";
      ok = false;
    }
  }

  bool failed = false;
  auto corrupt = [&]() {
    // Events before the corruption were delivered; the partial record it cut is counted as
    // malformed, not parsed (its tail may be garbage).
    file_error(Status::Corruption("corrupt or truncated gzip data after " +
                                  std::to_string(file_bytes) +
                                  " decompressed bytes: " + read_error));
    if (auto cut = splitter_.partial()) sink.OnCut(*cut, "record cut by gzip corruption");
    splitter_.Abandon();
    failed = true;
  };
  if (start < head_.size() && !Cancelled()) {
    size_t skip = static_cast<size_t>(start);
    stats_.bytes_read += head_.size() - skip;
    splitter_.Feed(head_.data() + skip, head_.size() - skip, head_.capacity() - skip, sink);
  }
  if (head_.capacity() > (1u << 20)) head_ = PaddedBuffer();  // a long first line
  if (!ok) corrupt();
  while (!failed) {
    if (Cancelled()) break;
    chunk_.Reserve(options_.read_chunk_bytes);
    int got = gzread(gz, chunk_.data(), static_cast<unsigned>(options_.read_chunk_bytes));
    int errnum = Z_OK;
    const char* msg = gzerror(gz, &errnum);
    if (got > 0) {
      chunk_.Resize(static_cast<size_t>(got));
      file_bytes += static_cast<uint64_t>(got);
      stats_.bytes_read += static_cast<uint64_t>(got);
      splitter_.Feed(chunk_.data(), chunk_.size(), chunk_.capacity(), sink);
    }
    if (got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
      read_error = msg ? msg : "unknown error";
      corrupt();
      break;
    }
    if (got == 0) break;
  }
  gzclose(gz);
  if (Cancelled()) {
    splitter_.Abandon();
    return Status::Unavailable("reading " + path + " cancelled");
  }
  if (!failed) {
    splitter_.Finish(sink);
    if (file_bytes == 0) file_error(Status::InvalidArgument("empty file"));
  }
  return Status::Ok();
}

Status FileSource::ReadAll(const std::vector<std::string>& paths, const Handlers& handlers) {
  namespace fs = std::filesystem;
  for (const std::string& path : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) return Status::NotFound("no such file or directory: " + path);
    if (fs::is_directory(st)) {
      std::vector<std::string> files;
      for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        std::error_code fec;
        if (it->is_regular_file(fec)) files.push_back(it->path().string());
      }
      if (ec) return Status::IoError("cannot list " + path + ": " + ec.message());
      std::sort(files.begin(), files.end());
      for (const std::string& f : files) {
        ReadOne(f, handlers).IgnoreError();
        if (Cancelled()) return Status::Unavailable("reading cancelled");
      }
    } else {
      // Open failures were reported through on_error; keep going with the next path.
      ReadOne(path, handlers).IgnoreError();
      if (Cancelled()) return Status::Unavailable("reading cancelled");
    }
  }
  return Status::Ok();
}

Status ReadPaths(const std::vector<std::string>& paths, const FileSourceOptions& options,
                 FileEventFn on_event, FileErrorFn on_error, FileSourceStats* stats) {
  FileSource source(options);
  Status s = source.ReadPaths(paths, on_event, on_error);
  if (stats) *stats = source.stats();
  return s;
}

}  // namespace vigil::ingest
