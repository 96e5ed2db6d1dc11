// The rules a running Vigil uses: the files named with --rules (native, Falco or Sigma, in
// order) or the built-in pack, compiled once and swapped atomically on reload (SIGHUP,
// POST /v1/rules/reload). A failed reload leaves the previous rules active.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vigil/core/status.h"
#include "vigil/detect/detector.h"
#include "vigil/detect/rule.h"
#include "vigil/detect/rule_engine.h"
#include "vigil/detect/rule_files.h"
#include "vigil/detect/stateful_detector.h"

namespace vigil::app {

// Loads rule files (empty list: the built-in pack, with or without its inline tests). Exposed
// for `vigil rules`.
Result<detect::RuleSet> LoadRules(const std::vector<std::string>& paths,
                                  detect::PackContent builtin = detect::PackContent::kWithTests);

// Disables every rule of `rules` whose id is not in `only`. InvalidArgument naming an id of
// `only` that no rule has.
Status KeepOnly(const std::vector<std::string>& only, detect::RuleSet* rules);

// What a RuleProvider tells about one loaded rule (GET /v1/rules), enabled or not.
struct LoadedRule {
  std::string id, name;
  Severity severity = Severity::kMedium;
  detect::RuleOrigin origin = detect::RuleOrigin::kNative;
  detect::RuleSource source;  // file, line, column
  bool stateful = false;
  bool enabled = true;
  std::vector<std::string> attack_ids;
};

// Thread-safe holder of the current compiled rules.
class RuleProvider {
 public:
  // `only` (optional): the ids of the rules to run; the others are loaded and left out. An id
  // that is not among the loaded rules fails Reload.
  explicit RuleProvider(std::vector<std::string> paths, std::vector<std::string> only = {})
      : paths_(std::move(paths)), only_(std::move(only)) {}

  // Loads and compiles the rules. On error returns it (file:line:col: reason) and keeps the
  // previous rules. Serialised: concurrent reloads run one after the other.
  Status Reload();

  // The current engine (never null after a successful Reload) and its generation, which
  // increases with every successful reload.
  std::shared_ptr<const detect::RuleEngine> engine() const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  size_t rule_count() const;
  // Every rule of the current set (disabled ones too), in load order, and its generation; null
  // before the first successful Reload.
  std::shared_ptr<const std::vector<LoadedRule>> loaded(uint64_t* generation = nullptr) const;

 private:
  const std::vector<std::string> paths_;
  const std::vector<std::string> only_;
  std::mutex reload_mu_;
  mutable std::mutex mu_;
  std::shared_ptr<const detect::RuleEngine> engine_;       // guarded by mu_
  std::shared_ptr<const std::vector<LoadedRule>> loaded_;  // guarded by mu_
  uint64_t loaded_generation_ = 0;                         // guarded by mu_
  std::atomic<uint64_t> generation_{0};
};

// A Detector for one worker that follows `provider`: it picks up reloaded rules between events.
// `provider` must outlive it and must have loaded successfully once. With `state`, stateful
// rules run too (a StatefulDetector over `state`, which must outlive it); without, only the
// single-event rules.
detect::DetectorPtr MakeFollowingDetector(const RuleProvider* provider, StateStore* state = nullptr,
                                          const detect::StatefulOptions& options = {});

}  // namespace vigil::app
