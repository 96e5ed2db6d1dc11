// `vigil deadletters`: listing the records that could not be parsed, from the store.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "vigil/app/output.h"
#include "vigil/core/dead_letter.h"

namespace vigil::app {

// Lists the dead letters of the RocksDB store at db_dir, newest first: at most `limit` of them
// (0: all), those matching filter.source / filter.origin (filter.limit and cursor are ignored).
// Returns 0 on success, 1 when the store cannot be opened or read (e.g. locked by `vigil
// serve`), 2 when db_dir does not exist ("no store at DIR"). Messages go to `err`.
int RunDeadLetters(const std::string& db_dir, const DeadLetterFilter& filter, size_t limit,
                   OutputFormat format, std::ostream& out, std::ostream& err);

// table: one row per dead letter (received, source, origin, position, size, error) and an
// indented preview of its head, every byte from the record or the store made safe for a
// terminal; then "N dead letters (M kept)" when `kept` is given. json: one array of
// DeadLetterToJson objects. jsonl: one object per line.
void PrintDeadLetters(const std::vector<DeadLetter>& dead_letters, OutputFormat format,
                      std::ostream& os, const uint64_t* kept = nullptr);

// Text for a terminal from hostile bytes: bytes that are not valid UTF-8 become '?', then
// control characters (C0, DEL, C1) become '?' (SanitizeForTerminal).
std::string TerminalSafe(std::string_view text);

}  // namespace vigil::app
