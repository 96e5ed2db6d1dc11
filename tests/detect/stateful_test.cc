// StatefulDetector: the four operators, dedup, watermarks, checkpoints and the state cache,
// over the in-memory StateStore.
#include "vigil/detect/stateful_detector.h"

// Designated initializers leave the other Ev members at their defaults, on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "event_fixture.h"
#include "vigil/core/memory_state_store.h"
#include "vigil/core/time_util.h"
#include "vigil/detect/native_loader.h"

namespace vigil::detect {
namespace {

using testing::EventFixture;

constexpr int64_t kMin = 60'000'000;

std::unique_ptr<RuleEngine> Compile(std::string_view yaml) {
  auto set = LoadNativeRulesFromString(yaml, "test.yaml");
  EXPECT_TRUE(set.ok()) << set.status().ToString();
  if (!set.ok()) return nullptr;
  auto engine = RuleEngine::Compile(*set);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(engine).value() : nullptr;
}

struct Ev {
  int64_t minute = 0;
  std::string user = "alice";
  std::string verb = "get";
  std::string resource = "secrets";
  std::string name = "s1";
  std::string ns = "default";
  int code = 200;
  std::string ip = "10.0.0.1";
  std::string ua = "kubectl/v1.29.3 (linux/amd64)";
  std::string subresource;
  std::string stage = "ResponseComplete";
  std::string audit_id;  // default: derived from the counter
};

std::string Json(const Ev& e, int n) {
  const int64_t base = *ParseTimestampMicros("2026-11-02T09:00:00Z");
  std::string id = e.audit_id.empty() ? "id-" + std::to_string(n) : e.audit_id;
  std::string obj = R"({"resource":")" + e.resource + R"(","namespace":")" + e.ns +
                    R"(","name":")" + e.name + R"(")" +
                    (e.subresource.empty() ? "" : R"(,"subresource":")" + e.subresource + "\"") +
                    "}";
  return R"({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":")" + id +
         R"(","stage":")" + e.stage + R"(","requestURI":"/api/v1/namespaces/)" + e.ns + "/" +
         e.resource + "/" + e.name + R"(","verb":")" + e.verb + R"(","user":{"username":")" +
         e.user + R"("},"sourceIPs":[")" + e.ip + R"("],"userAgent":")" + e.ua +
         R"(","objectRef":)" + obj + R"(,"responseStatus":{"code":)" + std::to_string(e.code) +
         R"(},"requestReceivedTimestamp":")" + FormatTimestampMicros(base + e.minute * kMin) +
         R"(","stageTimestamp":")" + FormatTimestampMicros(base + e.minute * kMin + 1000) +
         "\"}";
}

// Runs events through a detector; findings aggregated by id: id -> summed count.
class Harness {
 public:
  Harness(std::string_view yaml, StateStore* store, StatefulOptions opts = {})
      : detector_(Compile(yaml), store, opts), store_(store) {}

  void Feed(const Ev& e) {
    EventFixture fx(Json(e, counter_++), "prod");
    ASSERT_TRUE(fx.ok()) << fx.error();
    std::vector<Finding> out;
    detector_.Evaluate(fx.event(), &out);
    for (Finding& f : out) {
      counts_[f.id] += f.count;
      rules_[f.id] = f.rule_id;
      messages_[f.id] = f.message;
      first_[f.id] = std::min(first_.count(f.id) ? first_[f.id] : f.first_seen_us,
                              f.first_seen_us);
    }
  }
  Status Checkpoint() {
    StateCheckpoint cp;
    detector_.Checkpoint(&cp);
    Status s = store_->Commit(cp);
    if (s.ok()) detector_.Committed();
    return s;
  }
  size_t findings() const { return counts_.size(); }
  uint64_t count_of_only() const { return counts_.size() == 1 ? counts_.begin()->second : 0; }
  const std::map<std::string, uint64_t>& counts() const { return counts_; }
  const std::map<std::string, std::string>& messages() const { return messages_; }
  StatefulDetector& detector() { return detector_; }
  void set_counter(int c) { counter_ = c; }

 private:
  StatefulDetector detector_;
  StateStore* store_;
  int counter_ = 0;
  std::map<std::string, uint64_t> counts_;
  std::map<std::string, std::string> rules_;
  std::map<std::string, std::string> messages_;
  std::map<std::string, int64_t> first_;
};

constexpr char kThreshold[] = R"(
- rule: t.denied_burst
  severity: high
  condition: responseStatus.code in (401, 403)
  threshold: {count: 5, window: 30m, group_by: ["sourceIPs[0]"]}
)";

TEST(StatefulThresholdTest, FiresAtTheCountAndAggregatesTheRest) {
  MemoryStateStore store;
  Harness h(kThreshold, &store);
  for (int i = 0; i < 4; ++i) h.Feed(Ev{.minute = i, .code = 403});
  EXPECT_EQ(h.findings(), 0u);
  h.Feed(Ev{.minute = 4, .code = 403});
  ASSERT_EQ(h.findings(), 1u);
  EXPECT_EQ(h.count_of_only(), 5u);
  EXPECT_NE(h.messages().begin()->second.find("5 events within 30m for 10.0.0.1"),
            std::string::npos)
      << h.messages().begin()->second;
  h.Feed(Ev{.minute = 6, .code = 403});  // the same burst: same finding, one more
  ASSERT_EQ(h.findings(), 1u);
  EXPECT_EQ(h.count_of_only(), 6u);
  h.Feed(Ev{.minute = 7, .code = 200});  // out of scope
  EXPECT_EQ(h.count_of_only(), 6u);
}

TEST(StatefulThresholdTest, SpreadOutEventsAndOtherKeysDoNotAddUp) {
  MemoryStateStore store;
  Harness h(kThreshold, &store);
  for (int i = 0; i < 10; ++i) h.Feed(Ev{.minute = i * 10, .code = 403});  // 3 per 30 min
  for (int i = 0; i < 4; ++i) h.Feed(Ev{.minute = 200, .code = 403, .ip = "10.0.0.2"});
  for (int i = 0; i < 4; ++i) h.Feed(Ev{.minute = 200, .code = 403, .ip = "10.0.0.3"});
  EXPECT_EQ(h.findings(), 0u);
}

TEST(StatefulThresholdTest, ANewBurstAfterAQuietWindowIsANewFinding) {
  MemoryStateStore store;
  Harness h(kThreshold, &store);
  for (int i = 0; i < 5; ++i) h.Feed(Ev{.minute = i, .code = 403});
  for (int i = 0; i < 5; ++i) h.Feed(Ev{.minute = 120 + i, .code = 403});
  EXPECT_EQ(h.findings(), 2u);
}

constexpr char kDistinct[] = R"(
- rule: t.probing
  condition: verb exists
  distinct:
    count: 4
    window: 10m
    group_by: [user.username]
    field: objectRef.resource
    must_include: ["responseStatus.code = 403", "responseStatus.code < 400"]
)";

TEST(StatefulDistinctTest, CountsDistinctValuesAndNeedsEveryMustInclude) {
  MemoryStateStore store;
  Harness h(kDistinct, &store);
  // Four distinct resources, all allowed: the 403 requirement is not met.
  for (const char* r : {"pods", "secrets", "nodes", "roles"}) {
    h.Feed(Ev{.minute = 1, .resource = r});
  }
  h.Feed(Ev{.minute = 1, .resource = "pods"});  // repeats do not count as distinct
  EXPECT_EQ(h.findings(), 0u);
  h.Feed(Ev{.minute = 2, .resource = "pods", .code = 403});
  ASSERT_EQ(h.findings(), 1u);
  EXPECT_EQ(h.count_of_only(), 4u);
  EXPECT_NE(h.messages().begin()->second.find("4 distinct objectRef.resource"), std::string::npos);
}

TEST(StatefulDistinctTest, ValuesOutsideTheWindowAreForgotten) {
  MemoryStateStore store;
  Harness h(kDistinct, &store);
  int m = 0;
  for (const char* r : {"pods", "secrets", "nodes", "roles", "configmaps", "services"}) {
    h.Feed(Ev{.minute = m, .resource = r, .code = m % 2 ? 403 : 200});
    m += 6;  // never more than 2 values within 10 minutes
  }
  EXPECT_EQ(h.findings(), 0u);
}

constexpr char kNewTerms[] = R"(
- rule: t.new_verb
  condition: verb exists
  new_terms:
    group_by: [user.username]
    terms: [verb, objectRef.resource]
    learning: 1h
)";

TEST(StatefulNewTermsTest, LearnsThenFiresOncePerNewTerm) {
  MemoryStateStore store;
  Harness h(kNewTerms, &store);
  h.Feed(Ev{.minute = 0, .verb = "get", .resource = "pods"});
  h.Feed(Ev{.minute = 30, .verb = "list", .resource = "pods"});
  h.Feed(Ev{.minute = 59, .verb = "get", .resource = "secrets", .code = 403});  // not learned
  EXPECT_EQ(h.findings(), 0u);
  h.Feed(Ev{.minute = 90, .verb = "get", .resource = "pods"});   // known
  h.Feed(Ev{.minute = 91, .verb = "list", .resource = "pods"});  // known
  EXPECT_EQ(h.findings(), 0u);
  h.Feed(Ev{.minute = 92, .verb = "delete", .resource = "pods"});  // new, allowed: learned
  h.Feed(Ev{.minute = 93, .verb = "delete", .resource = "pods"});
  EXPECT_EQ(h.findings(), 1u);
  h.Feed(Ev{.minute = 94, .verb = "get", .resource = "secrets", .code = 403});
  h.Feed(Ev{.minute = 95, .verb = "get", .resource = "secrets", .code = 403});
  ASSERT_EQ(h.findings(), 2u);  // denied: never learned, so one finding counted twice
  uint64_t total = 0;
  for (const auto& [id, c] : h.counts()) total += c;
  EXPECT_EQ(total, 3u);
  h.Feed(Ev{.minute = 96, .user = "bob", .verb = "get", .resource = "pods"});
  EXPECT_EQ(h.findings(), 3u);  // a key never seen is new too
}

TEST(StatefulNewTermsTest, TheBaselineSurvivesARestart) {
  MemoryStateStore store;
  {
    Harness h(kNewTerms, &store);
    h.Feed(Ev{.minute = 0, .verb = "get", .resource = "pods"});
    h.Feed(Ev{.minute = 10, .verb = "list", .resource = "nodes"});
    ASSERT_TRUE(h.Checkpoint().ok());
  }
  Harness h(kNewTerms, &store);  // a new process over the same store
  h.set_counter(100);
  h.Feed(Ev{.minute = 120, .verb = "get", .resource = "pods"});
  h.Feed(Ev{.minute = 121, .verb = "list", .resource = "nodes"});
  EXPECT_EQ(h.findings(), 0u) << "re-learned or lost the baseline";
  h.Feed(Ev{.minute = 122, .verb = "create", .resource = "pods"});
  EXPECT_EQ(h.findings(), 1u);
}

constexpr char kSequence[] = R"(
- rule: t.rbac_then_workload
  sequence:
    group_by: [user.username]
    within: 5m
    steps:
      - name: rbac change
        condition: objectRef.resource = clusterrolebindings and verb = create
      - name: workload change
        condition: objectRef.resource in (deployments, clusterrolebindings) and verb in (create, patch)
)";

TEST(StatefulSequenceTest, StepsInOrderWithinTheSpan) {
  MemoryStateStore store;
  Harness h(kSequence, &store);
  h.Feed(Ev{.minute = 0, .verb = "create", .resource = "clusterrolebindings"});
  EXPECT_EQ(h.findings(), 0u) << "one event matching both steps completed a sequence alone";
  h.Feed(Ev{.minute = 3, .verb = "patch", .resource = "deployments"});
  ASSERT_EQ(h.findings(), 1u);
  EXPECT_NE(h.messages().begin()->second.find("rbac change -> workload change within 5m"),
            std::string::npos);
  // Too late, and the other order: nothing new.
  h.Feed(Ev{.minute = 30, .user = "bob", .verb = "create", .resource = "clusterrolebindings"});
  h.Feed(Ev{.minute = 40, .user = "bob", .verb = "create", .resource = "deployments"});
  h.Feed(Ev{.minute = 50, .user = "carol", .verb = "create", .resource = "deployments"});
  h.Feed(Ev{.minute = 51, .user = "carol", .verb = "get", .resource = "clusterrolebindings"});
  EXPECT_EQ(h.findings(), 1u);
}

TEST(StatefulSequenceTest, PerStepKeysJoinDifferentFields) {
  constexpr char kYaml[] = R"(
- rule: t.token_then_use
  sequence:
    within: 1h
    steps:
      - condition: objectRef.resource = serviceaccounts and objectRef.subresource = token
        by: ["system:serviceaccount:{objectRef.namespace}:{objectRef.name}"]
      - condition: user.username startswith "system:serviceaccount:" and sourceIPs[0] is_public_ip
        by: [user.username]
)";
  MemoryStateStore store;
  Harness h(kYaml, &store);
  h.Feed(Ev{.minute = 0, .verb = "create", .resource = "serviceaccounts", .name = "builder",
            .ns = "ci", .subresource = "token"});
  h.Feed(Ev{.minute = 5, .user = "system:serviceaccount:ci:other", .ip = "34.120.1.1"});
  EXPECT_EQ(h.findings(), 0u);
  h.Feed(Ev{.minute = 6, .user = "system:serviceaccount:ci:builder", .ip = "10.1.1.1"});
  EXPECT_EQ(h.findings(), 0u);
  h.Feed(Ev{.minute = 7, .user = "system:serviceaccount:ci:builder", .ip = "34.120.1.1"});
  EXPECT_EQ(h.findings(), 1u);
}

TEST(StatefulDetectorTest, DuplicatesAndOtherStagesAreProcessedOnce) {
  MemoryStateStore store;
  Harness h(kThreshold, &store);
  for (int i = 0; i < 4; ++i) {
    h.Feed(Ev{.minute = i, .code = 403, .audit_id = "same"});
  }
  for (int i = 0; i < 4; ++i) {
    h.Feed(Ev{.minute = i, .code = 403, .stage = "RequestReceived"});
  }
  EXPECT_EQ(h.detector().stats().duplicates, 3u);
  EXPECT_EQ(h.findings(), 0u);
  ASSERT_TRUE(h.Checkpoint().ok());
  Harness again(kThreshold, &store);  // after a restart the dedup set is in the store
  again.Feed(Ev{.minute = 0, .code = 403, .audit_id = "same"});
  EXPECT_EQ(again.detector().stats().duplicates, 1u);
}

TEST(StatefulDetectorTest, LateEventsSkipStatefulRules) {
  MemoryStateStore store;
  StatefulOptions opts;
  opts.allowed_lateness_us = 5 * kMin;
  Harness h(kThreshold, &store, opts);
  h.Feed(Ev{.minute = 100, .code = 200});
  for (int i = 0; i < 6; ++i) h.Feed(Ev{.minute = 80 + i, .code = 403});  // all late
  EXPECT_EQ(h.detector().stats().late, 6u);
  EXPECT_EQ(h.findings(), 0u);
  for (int i = 0; i < 5; ++i) h.Feed(Ev{.minute = 96 + i, .code = 403});  // within lateness
  EXPECT_EQ(h.findings(), 1u);
}

TEST(StatefulDetectorTest, ATinyCacheGivesTheSameFindings) {
  auto run = [](size_t cache_bytes, uint64_t* evictions) {
    MemoryStateStore store;
    StatefulOptions opts;
    opts.cache_bytes = cache_bytes;
    Harness h(kThreshold, &store, opts);
    for (int i = 0; i < 600; ++i) {
      h.Feed(Ev{.minute = i / 20, .code = 403, .ip = "10.0." + std::to_string(i % 30) + ".1"});
      if (h.detector().checkpoint_due() || i % 50 == 49) {
        EXPECT_TRUE(h.Checkpoint().ok());
      }
      // Bounded: clean state is evicted as new state comes in; changed state is checkpointed
      // before the cache passes 1.5 times its budget (plus the one entry being loaded).
      EXPECT_LE(h.detector().stats().cache_bytes, cache_bytes + cache_bytes / 2 + 1024);
    }
    *evictions = h.detector().stats().evictions;
    return h.counts();
  };
  uint64_t big_evictions = 0, small_evictions = 0;
  auto big = run(size_t{64} << 20, &big_evictions);
  auto small = run(2000, &small_evictions);
  EXPECT_EQ(big_evictions, 0u);
  EXPECT_GT(small_evictions, 0u);
  EXPECT_FALSE(big.empty());
  EXPECT_EQ(big, small);
}

TEST(StatefulDetectorTest, CorruptStateStartsAfresh) {
  MemoryStateStore store;
  StateCheckpoint cp;
  std::string v;
  PutExpiry(int64_t{1} << 62, &v);
  v += "\x01garbage";
  cp.state.emplace_back(MakeStateKey("t.denied_burst", "prod", "10.0.0.1"), v);
  ASSERT_TRUE(store.Commit(cp).ok());
  Harness h(kThreshold, &store);
  for (int i = 0; i < 5; ++i) h.Feed(Ev{.minute = i, .code = 403});
  EXPECT_EQ(h.detector().stats().corrupt_state, 1u);
  EXPECT_EQ(h.findings(), 1u);
}

TEST(StatefulLoaderTest, RejectsBadStatefulBlocks) {
  struct Case {
    const char* yaml;
    const char* error;
  } cases[] = {
      {"- rule: a\n  condition: verb exists\n  threshold: {count: 0, window: 5m}\n",
       "'count' must be an integer"},
      {"- rule: a\n  condition: verb exists\n  threshold: {count: 3, window: soon}\n",
       "bad duration 'soon'"},
      {"- rule: a\n  condition: verb exists\n  threshold: {count: 3}\n", "needs 'window'"},
      {"- rule: a\n  condition: verb exists\n  threshold: {count: 3, window: 1m}\n"
       "  new_terms: {learning: 1d}\n",
       "one stateful operator per rule"},
      {"- rule: a\n  condition: verb exists\n  distinct: {count: 3, window: 1m}\n",
       "needs 'field'"},
      {"- rule: a\n  sequence:\n    within: 1m\n    steps:\n      - condition: verb exists\n",
       "2 to 8"},
      {"- rule: a\n  condition: verb exists\n  new_terms: {learning: 1d, group_by: ['a..b']}\n",
       "bad field path"},
      {"- rule: a\n  condition: verb exists\n  threshold: {count: 3, window: 1m, size: 2}\n",
       "unknown key 'size'"},
  };
  for (const Case& c : cases) {
    auto set = LoadNativeRulesFromString(c.yaml, "bad.yaml");
    ASSERT_FALSE(set.ok()) << c.yaml;
    EXPECT_NE(set.status().message().find(c.error), std::string::npos)
        << set.status().message() << "\nwanted: " << c.error;
    EXPECT_NE(set.status().message().find("bad.yaml:"), std::string::npos);
  }
}

// A partition moved here: the store holds state another instance built (restored from the
// changelog). Forget makes the detector read it instead of what it had cached.
TEST(StatefulScaleOutTest, ForgetDropsWhatIsCachedOfTheRestoredClusters) {
  for (bool forget : {false, true}) {
    MemoryStateStore store;
    Harness here(kThreshold, &store);
    for (int i = 0; i < 3; ++i) here.Feed(Ev{.minute = i, .code = 403});
    ASSERT_TRUE(here.Checkpoint().ok());
    {
      Harness elsewhere(kThreshold, &store);  // the partition's other owner, meanwhile
      elsewhere.set_counter(100);
      elsewhere.Feed(Ev{.minute = 3, .code = 403});
      ASSERT_TRUE(elsewhere.Checkpoint().ok());
    }
    here.detector().Forget(forget ? std::vector<std::string>{"prod"}
                                  : std::vector<std::string>{"another-cluster"});
    here.set_counter(200);
    here.Feed(Ev{.minute = 4, .code = 403});
    // 3 cached + 1 is short of 5; the store's 4 + 1 is a finding.
    EXPECT_EQ(here.findings(), forget ? 1u : 0u) << "forget " << forget;
  }
}

// A restored entry came from a checkpoint that never completed: it already includes the events
// of its stream before position 10, which the replay from the last complete one brings again.
TEST(StatefulScaleOutTest, AGuardSkipsTheEventsARestoredEntryIncludes) {
  MemoryStateStore store;
  Harness h(kThreshold, &store);
  h.detector().Guard(MakeStateKey("t.denied_burst", "prod", "10.0.0.1"), 10);
  EXPECT_TRUE(h.detector().guarded());
  h.detector().SetPosition(9);
  for (int i = 0; i < 6; ++i) h.Feed(Ev{.minute = i, .code = 403});
  EXPECT_EQ(h.findings(), 0u);
  EXPECT_EQ(h.detector().stats().guarded, 6u);
  // Another key is not guarded.
  for (int i = 0; i < 5; ++i) h.Feed(Ev{.minute = i, .code = 403, .ip = "10.0.0.2"});
  EXPECT_EQ(h.findings(), 1u);
  // From position 10 on, events count again, and the guard is gone.
  h.detector().SetPosition(10);
  for (int i = 0; i < 5; ++i) h.Feed(Ev{.minute = 10 + i, .code = 403});
  EXPECT_EQ(h.findings(), 2u);
  EXPECT_FALSE(h.detector().guarded());
}

}  // namespace
}  // namespace vigil::detect

namespace vigil::detect {
namespace {

// How long a rule's state lives, which bounds the scale-out changelog's retention: its ttl,
// else a new_terms baseline's default memory, else its window; single-event rules keep none.
TEST(StatefulTtlTest, TheLongestStateTtlOfARuleSet) {
  auto set = LoadNativeRulesFromString(
      "- rule: t.burst\n  condition: verb exists\n  threshold: {count: 3, window: 10m}\n"
      "- rule: t.kept\n  condition: verb exists\n  threshold: {count: 3, window: 1m, ttl: 2d}\n"
      "- rule: t.single\n  condition: verb exists\n",
      "ttl.yaml");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  StatefulOptions o;
  auto engine = RuleEngine::Compile(*set);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  const std::vector<Rule>& rules = (*engine)->rule_defs();
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(StateTtlUs(rules[0], o), 10 * kMin);
  EXPECT_EQ(StateTtlUs(rules[1], o), 2 * 24 * 60 * kMin);
  EXPECT_EQ(StateTtlUs(rules[2], o), 0);
  EXPECT_EQ(MaxStateTtlUs(rules, o), 2 * 24 * 60 * kMin);

  auto terms = LoadNativeRulesFromString(kNewTerms, "terms.yaml");
  ASSERT_TRUE(terms.ok());
  auto terms_engine = RuleEngine::Compile(*terms);
  ASSERT_TRUE(terms_engine.ok());
  o.default_new_terms_ttl_us = 30 * 24 * 60 * kMin;
  EXPECT_EQ(MaxStateTtlUs((*terms_engine)->rule_defs(), o), 30 * 24 * 60 * kMin);
  EXPECT_EQ(MaxStateTtlUs({}, o), 0);
}

}  // namespace
}  // namespace vigil::detect
