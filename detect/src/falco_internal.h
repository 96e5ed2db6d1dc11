// Internals of the Falco front end shared by its reading half (falco_loader.cc: YAML items,
// append/override) and its compiling half (falco_compile.cc: macros, exceptions, rewrites).
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vigil/core/status.h"
#include "vigil/detect/condition.h"
#include "vigil/detect/falco_loader.h"
#include "vigil/detect/rule.h"

namespace vigil::detect::falco_internal {

inline constexpr std::string_view kK8sAuditSource = "k8s_audit";

// Where a YAML node starts: file index into Loader::names_/contents_, byte offset, 1-based line/column.
struct Loc {
  int file = -1;
  size_t pos = 0;
  int line = 0;
  int col = 0;
};

// A piece of condition text and where its scalar starts (appends add pieces).
struct Piece {
  std::string text;
  Loc loc;
};

struct ExValue {
  bool is_list = false;
  std::string scalar;
  std::vector<std::string> list;
};

struct ExceptionDef {
  std::string name;
  Loc loc;
  bool single_field = false;  // `fields: f` (a string): values are a flat list for one field
  std::vector<std::string> fields;
  std::vector<std::string> comps;  // empty: Falco's defaults ("in" single field, "=" tuples)
  std::vector<std::vector<ExValue>> values;
};

struct ListDef {
  std::vector<std::string> items;
  Loc loc;
};

struct MacroDef {
  std::vector<Piece> condition;
  Loc loc;
};

struct RuleDef {
  std::string name;
  Loc loc;
  std::string desc;
  std::vector<Piece> condition;
  std::string output;
  Severity severity = Severity::kMedium;
  std::string source = "syscall";
  std::vector<std::string> tags;
  bool enabled = true;
  bool skip_if_unknown_filter = false;
  std::vector<ExceptionDef> exceptions;
};

// An error at a place in a file, formatted late (the file name is needed).
struct LocError {
  Loc loc;
  std::string reason;
};

std::string Trim(std::string_view s);

// Folds constants and applies the Falco-specific rewrites the IR cannot express directly:
// jevt.rawtime (always present, never 0) and string operators on ka.response.code (a number in
// the event, a string in Falco: `ka.response.code startswith 2`).
Result<ExprPtr> Rewrite(const ExprPtr& e);

// Collects the items of Falco rules files in order, then compiles the k8s_audit rules.
// Single use: AddFile for each file, then Finish once.
class Loader {
 public:
  Status AddFile(std::string name, std::string content);
  Result<RuleSet> Finish(FalcoLoadInfo* info);

 private:
  // --- reading ---
  Status AddItem(const YAML::Node& item, int file);
  Status AddList(const YAML::Node& item, int file);
  Status AddMacro(const YAML::Node& item, int file);
  Status AddRule(const YAML::Node& item, int file);
  Result<ExceptionDef> ReadException(const YAML::Node& node, int file);
  Result<std::vector<ExceptionDef>> ReadExceptions(const YAML::Node& node, int file);
  // Reads `append` and `override`; *mode_of maps key -> "append"/"replace".
  Status ReadModes(const YAML::Node& item, int file, const std::set<std::string>& appendable,
                   const std::set<std::string>& replaceable, bool* append,
                   std::map<std::string, std::string>* mode_of);

  Loc LocOf(const YAML::Node& node, int file) const;
  std::string Where(const Loc& loc) const;
  Status Error(const Loc& loc, std::string_view reason) const;
  Result<std::string> Scalar(const YAML::Node& node, int file, std::string_view what) const;
  Result<std::vector<std::string>> ScalarList(const YAML::Node& node, int file,
                                              std::string_view what) const;
  Result<bool> Bool(const YAML::Node& node, int file, std::string_view what) const;

  // --- compiling ---
  void ExpandLists();
  const std::vector<std::string>* FindList(std::string_view name) const;
  ExprPtr ResolveMacro(std::string_view name);
  // Parses pieces joined by spaces; on error fills *err with the place in the file.
  ExprPtr ParsePieces(const std::vector<Piece>& pieces, LocError* err);
  Loc LocateInPiece(const Piece& piece, size_t offset) const;
  Result<ExprPtr> CompileException(const ExceptionDef& ex);
  Result<ExprPtr> BuildPredicate(const ResolvedField& field, std::string_view comp,
                                 std::vector<std::string> values);
  std::vector<std::string> ExpandValue(const ExValue& value) const;
  Status CompileRule(const RuleDef& def, RuleSet* out, std::set<std::string>* ids);

  std::vector<std::string> names_;
  std::vector<std::string> contents_;
  std::vector<std::string> list_order_;
  std::map<std::string, ListDef, std::less<>> lists_;
  std::map<std::string, MacroDef, std::less<>> macros_;
  std::vector<RuleDef> rules_;
  std::unordered_map<std::string, size_t> rule_index_;
  FalcoLoadInfo info_;
  std::vector<std::string> warnings_;

  // Compile-time state.
  std::map<std::string, std::vector<std::string>, std::less<>> expanded_;
  std::map<std::string, ExprPtr, std::less<>> macro_cache_;
  std::set<std::string, std::less<>> macros_in_progress_;
  std::optional<std::string> macro_error_;  // formatted "file:line:col: macro 'x': reason"
  Status last_field_error_;
  ConditionContext context_;
};

}  // namespace vigil::detect::falco_internal
