// FileRecordSource: files, .gz files and directories as a RecordSource. A reader thread frames
// the files (FileSource::ReadRecords) into batches, at most two ahead of the pipeline; each
// file's position (the start of the last record applied, with the file's fingerprint) is kept in
// the store's meta entries, so a file read again resumes there and its content decides whether
// the position still holds.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "vigil/ingest/file_source.h"
#include "vigil/ingest/record_source.h"

namespace vigil::ingest {

struct FileRecordSourceOptions {
  std::vector<std::string> paths;  // read in order (directories: their files by name)
  std::string cluster = "default";
  size_t max_record_bytes = size_t{64} << 20;
  size_t read_chunk_bytes = 256 << 10;
  bool resume = true;  // with a store: start each file at its stored position
};

class FileRecordSource final : public RecordSource {
 public:
  explicit FileRecordSource(FileRecordSourceOptions options);
  ~FileRecordSource() override;  // stops and joins the reader

  std::string_view kind() const override { return "file"; }
  Status Restore(const StateStore* store) override;
  Result<PollResult> Poll(RecordBatch* batch, const BatchLimits& limits,
                          std::chrono::milliseconds wait) override;
  void Applied(const RecordOrigin& origin, const RawRecord& record) override;
  uint64_t TakePositions(std::vector<std::pair<std::string, std::string>>* meta) override;
  void OnDurable(uint64_t token) override;
  void Stop() override;
  SourceHealth Health() const override;

  // The reader's counters (files, bytes, resumed files...); final once Poll returned kEnd.
  FileSourceStats stats() const;

  // The meta key of a file's position: "pos" SEP its absolute, normalised path.
  static std::string PositionKey(std::string_view path);

 private:
  void Read(BatchLimits limits);  // the reader thread
  void Push(std::unique_ptr<RecordBatch> batch);

  const FileRecordSourceOptions options_;
  const StateStore* store_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<RecordBatch>> ready_;   // guarded by mu_; at most kAhead
  std::vector<std::unique_ptr<RecordBatch>> spare_;  // guarded by mu_
  bool reader_done_ = false;                         // guarded by mu_
  Status reader_status_;                             // guarded by mu_
  FileSourceStats stats_;                            // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread reader_;

  // Pipeline thread: positions of the files applied since the last TakePositions.
  struct Position {
    std::string path, fingerprint;
    uint64_t offset = 0, line = 0;
    bool dirty = false;
  };
  std::unordered_map<uint32_t, Position> positions_;
  Position* last_ = nullptr;
  uint32_t last_stream_ = 0;
  uint64_t tokens_ = 0;
  std::atomic<bool> ended_{false};      // Poll returned kEnd
  std::atomic<uint64_t> end_token_{0};  // the first token taken after the end
  std::atomic<uint64_t> durable_token_{0};
};

}  // namespace vigil::ingest
