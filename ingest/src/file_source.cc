// FileSource: files, .gz files and directories -> records -> AuditEvents (see file_source.h).
#include "vigil/ingest/file_source.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>

namespace vigil::ingest {
namespace {

Status PositionedStatus(const SourcePosition& pos, const Status& status) {
  return Status(status.code(),
                std::string(pos.file) + ":" + std::to_string(pos.line) + ": " + status.message());
}

}  // namespace

class FileSource::Sink : public RecordSplitter::Sink {
 public:
  Sink(FileSource* source, std::string_view file, FileEventFn on_event, FileErrorFn on_error)
      : source_(source), file_(file), on_event_(on_event), on_error_(on_error) {}

  void OnRecord(const char* data, size_t len, size_t capacity, uint64_t line,
                uint64_t offset) override {
    FileSourceStats& st = source_->stats_;
    ++st.records;
    SourcePosition pos{file_, line, offset};
    DecodeResult r = source_->decoder_.Decode(
        data, len, capacity, [&](const AuditEvent& event) { on_event_(event, pos); });
    st.events += r.events;
    st.malformed += r.malformed;
    st.skipped += r.skipped;
    st.dropped_fields += r.report.dropped_fields;
    if (r.malformed > 0) {
      Status reason = r.first_error;
      if (r.malformed > 1) {
        reason = Status(reason.code(), reason.message() + " (and " +
                                           std::to_string(r.malformed - 1) + " more items)");
      }
      on_error_(IngestError{IngestErrorKind::kMalformed, pos, PositionedStatus(pos, reason)});
    }
  }

  // A record begun before unreadable data and never completed: counted as a malformed record.
  void OnCut(const RecordSplitter::Partial& cut, std::string_view why) {
    FileSourceStats& st = source_->stats_;
    ++st.records;
    ++st.malformed;
    SourcePosition pos{file_, cut.line, cut.offset};
    on_error_(IngestError{IngestErrorKind::kMalformed, pos,
                          PositionedStatus(pos, Status::Corruption(std::string(why)))});
  }

  void OnOversize(uint64_t bytes, uint64_t line, uint64_t offset) override {
    ++source_->stats_.oversize;
    SourcePosition pos{file_, line, offset};
    Status s = Status::ResourceExhausted(
        "record of " + std::to_string(bytes) + " bytes exceeds limit of " +
        std::to_string(source_->options_.envelope.max_record_bytes) + " bytes");
    on_error_(IngestError{IngestErrorKind::kOversize, pos, PositionedStatus(pos, s)});
  }

 private:
  FileSource* source_;
  std::string_view file_;
  FileEventFn on_event_;
  FileErrorFn on_error_;
};

FileSource::FileSource(FileSourceOptions options)
    : options_(options), decoder_(options.envelope), splitter_(options.envelope.max_record_bytes) {
  if (options_.read_chunk_bytes == 0) options_.read_chunk_bytes = 256 << 10;
}

Status FileSource::ReadFile(const std::string& path, FileEventFn on_event, FileErrorFn on_error) {
  auto file_error = [&](const Status& s) {
    ++stats_.file_errors;
    SourcePosition pos{path, splitter_.line(), splitter_.offset()};
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
  Sink sink(this, path, on_event, on_error);
  uint64_t file_bytes = 0;
  bool failed = false;
  for (;;) {
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
      // Events before the corruption were delivered; the partial record it cut is counted as
      // malformed, not parsed (its tail may be garbage).
      file_error(Status::Corruption("corrupt or truncated gzip data after " +
                                    std::to_string(file_bytes) +
                                    " decompressed bytes: " + (msg ? msg : "unknown error")));
      if (auto cut = splitter_.partial()) sink.OnCut(*cut, "record cut by gzip corruption");
      splitter_.Abandon();
      failed = true;
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

Status FileSource::ReadPaths(const std::vector<std::string>& paths, FileEventFn on_event,
                             FileErrorFn on_error) {
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
        ReadFile(f, on_event, on_error).IgnoreError();
        if (Cancelled()) return Status::Unavailable("reading cancelled");
      }
    } else {
      // Open failures were reported through on_error; keep going with the next path.
      ReadFile(path, on_event, on_error).IgnoreError();
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
