// RecordSplitter: content-detected framing of JSON lines / arrays / concatenated objects.
#include "vigil/ingest/record_splitter.h"

#include <cstring>

namespace vigil::ingest {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// True when [p, p+n) holds one complete value: brackets balanced and strings closed at the end.
bool IsCompleteValue(const char* p, size_t n) {
  int64_t depth = 0;
  bool in_string = false, escape = false, opened = false;
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (in_string) {
      if (escape) {
        escape = false;
      } else if (c == '\\') {
        escape = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
      opened = true;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return !in_string && (depth == 0 || !opened);
}

}  // namespace

RecordSplitter::RecordSplitter(size_t max_record_bytes) : max_(max_record_bytes) {}

void RecordSplitter::Reset(uint64_t line, uint64_t offset, Framing framing) {
  framing_ = framing;
  line_ = base_line_ = line;
  offset_ = base_offset_ = offset;
  line_start_offset_ = offset;
  head_.clear();
  head_scanned_ = 0;
  Abandon();
}

void RecordSplitter::Abandon() {
  pending_.clear();
  skipping_ = false;
  skip_bytes_ = 0;
  in_record_ = false;
  in_array_ = false;
  scalar_ = false;
  in_string_ = false;
  escape_ = false;
  depth_ = 0;
  rec_bytes_ = 0;
  record_.clear();
}

std::optional<RecordSplitter::Partial> RecordSplitter::partial() const {
  switch (framing_) {
    case Framing::kUndecided: {
      // The head is the start of the stream, and holds no complete first line yet.
      const char* p = head_.data();
      uint64_t line = base_line_;
      for (size_t i = 0; i < head_.size(); ++i) {
        if (!IsSpace(p[i])) return Partial{line, base_offset_ + i};
        if (p[i] == '\n') ++line;
      }
      return std::nullopt;
    }
    case Framing::kJsonLines: {
      if (skipping_) return Partial{line_, line_start_offset_};
      const char* p = pending_.data();
      for (size_t i = 0; i < pending_.size(); ++i) {
        if (!IsSpace(p[i])) return Partial{line_, line_start_offset_ + i};
      }
      return std::nullopt;
    }
    case Framing::kStructural:
      if (in_record_) return Partial{rec_line_, rec_offset_};
      return std::nullopt;
  }
  return std::nullopt;
}

void RecordSplitter::Feed(const char* data, size_t n, size_t capacity, Sink& sink) {
  if (framing_ == Framing::kUndecided) {
    head_.Append(data, n);
    Decide(false, sink);
    return;
  }
  if (framing_ == Framing::kJsonLines) {
    FeedLines(data, n, capacity, sink);
  } else {
    FeedStructural(data, n, capacity, sink);
  }
}

RecordSplitter::Framing RecordSplitter::DetectFraming(const char* p, size_t n, bool at_eof,
                                                      size_t max_record_bytes) {
  return Detect(p, n, at_eof, max_record_bytes, 0);
}

RecordSplitter::Framing RecordSplitter::Detect(const char* p, size_t n, bool at_eof, size_t max,
                                               size_t scanned) {
  size_t first = 0;
  while (first < n && IsSpace(p[first])) ++first;
  if (first == n && !at_eof) return Framing::kUndecided;  // only whitespace so far
  if (first < n && p[first] == '[') return Framing::kStructural;
  size_t from = first > scanned ? first : scanned;
  const void* nl = from < n ? std::memchr(p + from, '\n', n - from) : nullptr;
  if (nl == nullptr && !at_eof && n <= max) return Framing::kUndecided;  // need the first line
  if (nl == nullptr) return n > max ? Framing::kStructural : Framing::kJsonLines;
  size_t len = static_cast<size_t>(static_cast<const char*>(nl) - (p + first));
  return IsCompleteValue(p + first, len) ? Framing::kJsonLines : Framing::kStructural;
}

void RecordSplitter::Decide(bool at_eof, Sink& sink) {
  framing_ = Detect(head_.data(), head_.size(), at_eof, max_, head_scanned_);
  if (framing_ == Framing::kUndecided) {
    head_scanned_ = head_.size();
    return;
  }
  // Replay the buffered head through the chosen framing, from the start of the stream.
  PaddedBuffer head;
  std::swap(head, head_);
  head_scanned_ = 0;
  line_ = base_line_;
  offset_ = base_offset_;
  line_start_offset_ = base_offset_;
  if (framing_ == Framing::kJsonLines) {
    FeedLines(head.data(), head.size(), head.capacity(), sink);
  } else {
    FeedStructural(head.data(), head.size(), head.capacity(), sink);
  }
}

void RecordSplitter::EmitLine(const char* data, size_t len, size_t capacity, Sink& sink) {
  while (len > 0 && IsSpace(data[len - 1])) --len;
  size_t start = 0;
  while (start < len && IsSpace(data[start])) ++start;
  if (start == len) return;  // blank line
  sink.OnRecord(data + start, len - start, capacity - start, line_, line_start_offset_ + start);
}

void RecordSplitter::FeedLines(const char* data, size_t n, size_t capacity, Sink& sink) {
  size_t i = 0;
  while (i < n) {
    const char* nl = static_cast<const char*>(std::memchr(data + i, '\n', n - i));
    size_t end = nl ? static_cast<size_t>(nl - data) : n;
    size_t seg = end - i;
    if (skipping_) {
      skip_bytes_ += seg;
    } else if (pending_.size() + seg > max_) {
      skipping_ = true;
      skip_bytes_ = pending_.size() + seg;
      pending_.clear();
    } else if (nl == nullptr) {
      pending_.Append(data + i, seg);
    } else if (pending_.empty()) {
      EmitLine(data + i, seg, capacity - i, sink);
    } else {
      pending_.Append(data + i, seg);
      EmitLine(pending_.data(), pending_.size(), pending_.capacity(), sink);
      pending_.clear();
    }
    if (nl == nullptr) break;
    if (skipping_) {
      sink.OnOversize(skip_bytes_, line_, line_start_offset_);
      skipping_ = false;
      skip_bytes_ = 0;
    }
    ++line_;
    line_start_offset_ = offset_ + end + 1;
    i = end + 1;
  }
  offset_ += n;
}

void RecordSplitter::FeedStructural(const char* data, size_t n, size_t capacity, Sink& sink) {
  size_t seg_start = 0;
  size_t i = 0;
  auto end_record = [&](size_t end) {
    uint64_t total = rec_bytes_ + (end - seg_start);
    if (skipping_ || total > max_) {
      sink.OnOversize(total, rec_line_, rec_offset_);
    } else if (record_.empty()) {
      sink.OnRecord(data + seg_start, end - seg_start, capacity - seg_start, rec_line_,
                    rec_offset_);
    } else {
      record_.Append(data + seg_start, end - seg_start);
      sink.OnRecord(record_.data(), record_.size(), record_.capacity(), rec_line_, rec_offset_);
    }
    in_record_ = false;
    skipping_ = false;
    record_.clear();
    rec_bytes_ = 0;
  };
  while (i < n) {
    char c = data[i];
    if (!in_record_) {
      if (c == '\n') ++line_;
      if (IsSpace(c)) {
        ++i;
        continue;
      }
      if (in_array_ && (c == ',' || c == ']')) {
        if (c == ']') in_array_ = false;
        ++i;
        continue;
      }
      if (!in_array_ && c == '[') {
        in_array_ = true;  // a top-level array holds records
        ++i;
        continue;
      }
      in_record_ = true;
      rec_line_ = line_;
      rec_offset_ = offset_ + i;
      seg_start = i;
      rec_bytes_ = 0;
      record_.clear();
      skipping_ = false;
      in_string_ = (c == '"');
      escape_ = false;
      scalar_ = !(c == '{' || c == '[');
      depth_ = scalar_ ? 0 : 1;
      ++i;
      continue;
    }
    if (c == '\n') ++line_;
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
        if (scalar_ && depth_ == 0) {
          end_record(i + 1);
          ++i;
          continue;
        }
      }
      ++i;
      continue;
    }
    if (scalar_) {
      if (IsSpace(c) || c == ',' || c == ']' || c == '[' || c == '{' || c == '}') {
        if (c == '\n') --line_;  // the separator is counted again between records
        end_record(i);
        continue;  // reprocess the separator
      }
      ++i;
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        end_record(i + 1);
        ++i;
        continue;
      }
    }
    ++i;
  }
  if (in_record_) {
    size_t len = n - seg_start;
    rec_bytes_ += len;
    if (!skipping_) {
      if (record_.size() + len > max_) {
        skipping_ = true;
        record_.clear();
      } else {
        record_.Append(data + seg_start, len);
      }
    }
  }
  offset_ += n;
}

void RecordSplitter::Finish(Sink& sink) {
  if (framing_ == Framing::kUndecided) {
    Decide(true, sink);
    if (framing_ == Framing::kUndecided) return;  // empty or whitespace only
  }
  if (framing_ == Framing::kJsonLines) {
    if (skipping_) {
      sink.OnOversize(skip_bytes_, line_, line_start_offset_);
    } else if (!pending_.empty()) {
      EmitLine(pending_.data(), pending_.size(), pending_.capacity(), sink);
    }
  } else if (in_record_) {
    if (skipping_) {
      sink.OnOversize(rec_bytes_, rec_line_, rec_offset_);
    } else if (!record_.empty()) {
      sink.OnRecord(record_.data(), record_.size(), record_.capacity(), rec_line_, rec_offset_);
    }
  }
  Abandon();
}

}  // namespace vigil::ingest
