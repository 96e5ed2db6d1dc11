// PaddedBuffer: a grow-only byte buffer that always keeps SIMDJSON_PADDING zeroed bytes after
// its contents, so simdjson can parse it in place.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstring>
#include <memory>

namespace vigil::ingest {

class PaddedBuffer {
 public:
  PaddedBuffer() = default;

  const char* data() const { return data_.get(); }
  char* data() { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Readable bytes from data(): size() plus at least SIMDJSON_PADDING.
  size_t capacity() const { return capacity_ + simdjson::SIMDJSON_PADDING; }

  void clear() { size_ = 0; }
  void Assign(const char* p, size_t n) {
    size_ = 0;
    Append(p, n);
  }
  void Append(const char* p, size_t n) {
    Reserve(size_ + n);
    if (n) std::memcpy(data_.get() + size_, p, n);
    size_ += n;
    std::memset(data_.get() + size_, 0, simdjson::SIMDJSON_PADDING);
  }
  // Makes room for `n` bytes of contents (plus padding). Keeps the contents.
  void Reserve(size_t n) {
    if (n <= capacity_ && data_) return;
    size_t cap = capacity_ < 4096 ? 4096 : capacity_;
    while (cap < n) cap *= 2;
    std::unique_ptr<char[]> d(new char[cap + simdjson::SIMDJSON_PADDING]);
    if (size_) std::memcpy(d.get(), data_.get(), size_);
    std::memset(d.get() + size_, 0, cap + simdjson::SIMDJSON_PADDING - size_);
    data_ = std::move(d);
    capacity_ = cap;
  }
  // Sets the size after the caller wrote into [data(), data()+n) (n <= reserved size).
  void Resize(size_t n) {
    size_ = n;
    std::memset(data_.get() + size_, 0, simdjson::SIMDJSON_PADDING);
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace vigil::ingest
