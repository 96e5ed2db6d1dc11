// vigil-kafka-mock: librdkafka's mock cluster in a process of its own, so tests (and kcat) reach a
// Kafka protocol peer over loopback, and a line protocol on stdin injects faults on cue.
//
//   vigil-kafka-mock --brokers 3 --topic audit:8 [--topic other:2 ...]
//                    [--replication-factor N] [--exit-on-eof]
//
// Prints one line `bootstrap=<host:port,...>`, then answers each stdin command with one line,
// `ok` or `error <message>` (commands: see Usage()). Runs until SIGTERM/SIGINT (exit 0); EOF on
// stdin stops it only with --exit-on-eof. Usage errors exit 2, setup failures exit 1.
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int kUsageExit = 2;
constexpr int kSetupExit = 1;
constexpr int kMaxBrokers = 64;
constexpr int kMaxPartitions = 10000;
constexpr size_t kMaxLine = 64 * 1024;

const char* Usage() {
  return "usage: vigil-kafka-mock --brokers N --topic NAME:PARTITIONS [--topic ...]\n"
         "                        [--replication-factor N] [--exit-on-eof]\n"
         "stdin commands, one per line, each answered `ok` or `error <message>`:\n"
         "  ping\n"
         "  down <broker_id|-1>            up <broker_id|-1>\n"
         "  rtt <broker_id|-1> <ms>\n"
         "  leader <topic> <partition> <broker_id|-1>\n"
         "  errors <ApiKey name|number> <count> <error> [<error> ...]\n"
         "  clear-errors <ApiKey name|number>\n"
         "  topic <name> <partitions>\n"
         "  topic-error <topic> <error>\n"
         "  coordinator <group> <broker_id>\n";
}

// Kafka protocol API keys the mock serves in librdkafka 2.0.2 (rdkafka_mock_handlers.c); the
// numbers are the protocol's (librdkafka's RD_KAFKAP_* in rdkafka_proto.h, not a public header).
struct ApiKeyEntry {
  std::string_view name;
  int16_t key;
};
constexpr ApiKeyEntry kApiKeys[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"ApiVersions", 18},
    {"InitProducerId", 22},
    {"OffsetForLeaderEpoch", 23},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

// Names librdkafka's headers define as aliases (#define) rather than in rd_kafka_get_err_descs.
struct ErrorAlias {
  std::string_view name;
  rd_kafka_resp_err_t code;
};
constexpr ErrorAlias kErrorAliases[] = {
    {"NOT_LEADER_OR_FOLLOWER", RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION},
    {"GROUP_LOAD_IN_PROGRESS", RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS},
    {"GROUP_COORDINATOR_NOT_AVAILABLE", RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE},
    {"NOT_COORDINATOR_FOR_GROUP", RD_KAFKA_RESP_ERR_NOT_COORDINATOR},
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

template <typename T>
std::optional<T> ParseInt(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<int16_t> ParseApiKey(std::string_view s) {
  auto number = ParseInt<int>(s);
  for (const ApiKeyEntry& e : kApiKeys) {
    if (number ? *number == e.key : EqualsIgnoreCase(s, e.name)) return e.key;
  }
  return std::nullopt;
}

// Accepts an rd_kafka_err2name() name (with or without the RD_KAFKA_RESP_ERR_ prefix, any case),
// a known alias, or a numeric code that librdkafka knows.
std::optional<rd_kafka_resp_err_t> ParseError(std::string_view s) {
  constexpr std::string_view kPrefix = "RD_KAFKA_RESP_ERR_";
  if (s.size() > kPrefix.size() && EqualsIgnoreCase(s.substr(0, kPrefix.size()), kPrefix)) {
    s.remove_prefix(kPrefix.size());
  }
  auto number = ParseInt<int>(s);
  const rd_kafka_err_desc* descs = nullptr;
  size_t count = 0;
  rd_kafka_get_err_descs(&descs, &count);
  for (size_t i = 0; i < count; ++i) {
    if (descs[i].name == nullptr) continue;  // the table has holes
    if (number ? *number == descs[i].code : EqualsIgnoreCase(s, descs[i].name)) {
      return descs[i].code;
    }
  }
  for (const ErrorAlias& a : kErrorAliases) {
    if (!number && EqualsIgnoreCase(s, a.name)) return a.code;
  }
  return std::nullopt;
}

// Kafka's legal topic names: [a-zA-Z0-9._-]{1,249}, not "." or "..".
bool ValidTopicName(std::string_view s) {
  if (s.empty() || s.size() > 249 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::vector<std::string_view> SplitWords(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

// Writes all of `s` to stdout, unbuffered, so every answer is visible to the reader at once.
// Failures (the reader went away) are ignored: SIGPIPE is ignored and the mock keeps serving.
void WriteStdout(const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(STDOUT_FILENO, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// The mock cluster and the topics it was told about (name -> partition count).
class MockCluster {
 public:
  MockCluster(rd_kafka_mock_cluster_t* mcluster, int brokers, int replication_factor)
      : mcluster_(mcluster), brokers_(brokers), replication_factor_(replication_factor) {}

  // Returns "" on success, else the error message.
  std::string CreateTopic(std::string_view name, int partitions) {
    if (!ValidTopicName(name)) return "invalid topic name '" + std::string(name) + "'";
    if (partitions < 1 || partitions > kMaxPartitions) {
      return "partitions must be 1.." + std::to_string(kMaxPartitions);
    }
    std::string topic(name);
    if (topics_.count(topic)) return "topic '" + topic + "' already exists";
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(mcluster_, topic.c_str(), partitions, replication_factor_);
    if (err) return "creating topic '" + topic + "': " + rd_kafka_err2str(err);
    topics_[topic] = partitions;
    return "";
  }

  // Executes one command line; returns "ok" or "error <message>".
  std::string Execute(std::string_view line) {
    std::vector<std::string_view> w = SplitWords(line);
    if (w.empty()) return "error empty command";
    std::string_view cmd = w[0];
    auto args_are = [&](size_t n) { return w.size() == n + 1; };
    if (cmd == "ping") return args_are(0) ? "ok" : "error usage: ping";
    if (cmd == "down" || cmd == "up") {
      if (!args_are(1)) return "error usage: " + std::string(cmd) + " <broker_id|-1>";
      auto id = ParseBroker(w[1], /*allow_all=*/true);
      if (!id) return BadBroker(w[1]);
      return Answer(cmd == "down" ? rd_kafka_mock_broker_set_down(mcluster_, *id)
                                  : rd_kafka_mock_broker_set_up(mcluster_, *id));
    }
    if (cmd == "rtt") {
      if (!args_are(2)) return "error usage: rtt <broker_id|-1> <ms>";
      auto id = ParseBroker(w[1], /*allow_all=*/true);
      if (!id) return BadBroker(w[1]);
      auto ms = ParseInt<int>(w[2]);
      if (!ms || *ms < 0) return "error rtt must be a number of milliseconds >= 0";
      return Answer(rd_kafka_mock_broker_set_rtt(mcluster_, *id, *ms));
    }
    if (cmd == "leader") {
      if (!args_are(3)) return "error usage: leader <topic> <partition> <broker_id|-1>";
      std::string topic(w[1]);
      auto it = topics_.find(topic);
      if (it == topics_.end()) return "error unknown topic '" + topic + "'";
      auto partition = ParseInt<int32_t>(w[2]);
      if (!partition || *partition < 0 || *partition >= it->second) {
        return "error partition must be 0.." + std::to_string(it->second - 1);
      }
      // -1 makes the partition leaderless.
      auto id = ParseBroker(w[3], /*allow_all=*/true);
      if (!id) return BadBroker(w[3]);
      return Answer(rd_kafka_mock_partition_set_leader(mcluster_, topic.c_str(), *partition, *id));
    }
    if (cmd == "errors") {
      if (w.size() < 4) return "error usage: errors <ApiKey> <count> <error> [<error> ...]";
      auto api = ParseApiKey(w[1]);
      if (!api) return "error unsupported ApiKey '" + std::string(w[1]) + "'";
      auto count = ParseInt<size_t>(w[2]);
      if (!count || *count < 1 || *count > 100000) return "error count must be 1..100000";
      std::vector<rd_kafka_resp_err_t> errs;
      for (size_t i = 3; i < w.size(); ++i) {
        auto err = ParseError(w[i]);
        if (!err) return "error unknown error '" + std::string(w[i]) + "'";
        errs.push_back(*err);
      }
      // One error repeats `count` times; otherwise the list is the sequence and must match.
      if (errs.size() == 1) errs.resize(*count, errs[0]);
      if (errs.size() != *count) {
        return "error count " + std::to_string(*count) + " but " + std::to_string(w.size() - 3) +
               " errors given (give one, or exactly count)";
      }
      rd_kafka_mock_push_request_errors_array(mcluster_, *api, errs.size(), errs.data());
      return "ok";
    }
    if (cmd == "clear-errors") {
      if (!args_are(1)) return "error usage: clear-errors <ApiKey>";
      auto api = ParseApiKey(w[1]);
      if (!api) return "error unsupported ApiKey '" + std::string(w[1]) + "'";
      rd_kafka_mock_clear_request_errors(mcluster_, *api);
      return "ok";
    }
    if (cmd == "topic") {
      if (!args_are(2)) return "error usage: topic <name> <partitions>";
      auto partitions = ParseInt<int>(w[2]);
      if (!partitions) return "error partitions must be a number";
      std::string err = CreateTopic(w[1], *partitions);
      return err.empty() ? "ok" : "error " + err;
    }
    if (cmd == "topic-error") {
      if (!args_are(2)) return "error usage: topic-error <topic> <error>";
      std::string topic(w[1]);
      if (!topics_.count(topic)) return "error unknown topic '" + topic + "'";
      auto err = ParseError(w[2]);
      if (!err) return "error unknown error '" + std::string(w[2]) + "'";
      rd_kafka_mock_topic_set_error(mcluster_, topic.c_str(), *err);
      return "ok";
    }
    if (cmd == "coordinator") {
      if (!args_are(2)) return "error usage: coordinator <group> <broker_id>";
      auto id = ParseBroker(w[2], /*allow_all=*/false);
      if (!id) return BadBroker(w[2]);
      std::string group(w[1]);
      return Answer(rd_kafka_mock_coordinator_set(mcluster_, "group", group.c_str(), *id));
    }
    return "error unknown command '" + std::string(cmd) +
           "' (commands: ping down up rtt leader "
           "errors clear-errors topic topic-error coordinator)";
  }

 private:
  // Broker ids are 1..brokers; -1 means "all brokers" (or "no leader" for `leader`).
  std::optional<int32_t> ParseBroker(std::string_view s, bool allow_all) const {
    auto id = ParseInt<int32_t>(s);
    if (!id) return std::nullopt;
    if ((*id >= 1 && *id <= brokers_) || (allow_all && *id == -1)) return id;
    return std::nullopt;
  }
  std::string BadBroker(std::string_view s) const {
    return "error bad broker id '" + std::string(s) + "' (brokers are 1.." +
           std::to_string(brokers_) + ")";
  }
  static std::string Answer(rd_kafka_resp_err_t err) {
    return err ? std::string("error ") + rd_kafka_err2name(err) + ": " + rd_kafka_err2str(err)
               : "ok";
  }

  rd_kafka_mock_cluster_t* mcluster_;
  int brokers_;
  int replication_factor_;
  std::map<std::string, int> topics_;
};

struct Args {
  int brokers = 0;
  std::vector<std::pair<std::string, int>> topics;
  std::optional<int> replication_factor;
  bool exit_on_eof = false;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "vigil-kafka-mock: %s (see --help)\n", message.c_str());
  return kUsageExit;
}

// Returns "" on success, else the message for a usage error.
std::string ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    if (arg == "--brokers") {
      auto v = value();
      auto n = v ? ParseInt<int>(*v) : std::nullopt;
      if (!n || *n < 1 || *n > kMaxBrokers) {
        return "--brokers needs a number 1.." + std::to_string(kMaxBrokers);
      }
      args->brokers = *n;
    } else if (arg == "--topic") {
      auto v = value();
      if (!v) return "--topic needs NAME:PARTITIONS";
      size_t colon = v->rfind(':');
      auto n = colon == std::string_view::npos ? std::nullopt : ParseInt<int>(v->substr(colon + 1));
      if (!n) return "--topic needs NAME:PARTITIONS, got '" + std::string(*v) + "'";
      args->topics.emplace_back(std::string(v->substr(0, colon)), *n);
    } else if (arg == "--replication-factor") {
      auto v = value();
      auto n = v ? ParseInt<int>(*v) : std::nullopt;
      if (!n || *n < 1) return "--replication-factor needs a number >= 1";
      args->replication_factor = *n;
    } else if (arg == "--exit-on-eof") {
      args->exit_on_eof = true;
    } else {
      return "unknown argument '" + std::string(arg) + "'";
    }
  }
  if (args->brokers == 0) return "--brokers is required";
  if (args->replication_factor && *args->replication_factor > args->brokers) {
    return "--replication-factor exceeds --brokers";
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
    std::fputs(Usage(), stdout);
    return 0;
  }
  Args args;
  if (std::string err = ParseArgs(argc, argv, &args); !err.empty()) return UsageError(err);

  // Block the stop signals before librdkafka starts its threads (they inherit the mask), so the
  // signals reach only the signalfd below and shutdown runs on this thread.
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  int signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::fprintf(stderr, "vigil-kafka-mock: signalfd: %s\n", std::strerror(errno));
    return kSetupExit;
  }

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the cluster; it never connects anywhere.
  rd_kafka_conf_set(conf, "client.id", "vigil-kafka-mock", errstr, sizeof errstr);
  // Warnings and worse: hides the notice that this handle has no bootstrap.servers.
  rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    std::fprintf(stderr, "vigil-kafka-mock: rd_kafka_new: %s\n", errstr);
    return kSetupExit;
  }
  rd_kafka_mock_cluster_t* mcluster = rd_kafka_mock_cluster_new(rk, args.brokers);
  if (mcluster == nullptr) {
    std::fprintf(stderr, "vigil-kafka-mock: rd_kafka_mock_cluster_new failed\n");
    rd_kafka_destroy(rk);
    return kSetupExit;
  }
  MockCluster cluster(mcluster, args.brokers,
                      args.replication_factor.value_or(std::min(3, args.brokers)));
  for (const auto& [name, partitions] : args.topics) {
    if (std::string err = cluster.CreateTopic(name, partitions); !err.empty()) {
      rd_kafka_mock_cluster_destroy(mcluster);
      rd_kafka_destroy(rk);
      return UsageError("--topic " + name + ":" + std::to_string(partitions) + ": " + err);
    }
  }
  WriteStdout(std::string("bootstrap=") + rd_kafka_mock_cluster_bootstraps(mcluster) + "\n");

  std::string pending;  // stdin bytes not yet ended by a newline
  bool stdin_open = true;
  bool overlong = false;  // discarding the rest of a line longer than kMaxLine
  while (true) {
    pollfd fds[2] = {{signal_fd, POLLIN, 0}, {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "vigil-kafka-mock: poll: %s\n", std::strerror(errno));
      break;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      if (read(signal_fd, &info, sizeof info) == sizeof info) break;
    }
    if (fds[1].revents == 0) continue;
    char buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      stdin_open = false;
      if (!pending.empty() && !overlong) WriteStdout(cluster.Execute(pending) + "\n");
      pending.clear();
      if (args.exit_on_eof) break;
      continue;
    }
    pending.append(buf, static_cast<size_t>(n));
    size_t newline;
    while ((newline = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      if (overlong) {
        overlong = false;  // the end of the line already answered
        continue;
      }
      if (!line.empty() && line.back() == '\r') line.pop_back();
      WriteStdout(cluster.Execute(line) + "\n");
    }
    if (pending.size() > kMaxLine && !overlong) {
      WriteStdout("error line longer than " + std::to_string(kMaxLine) + " bytes\n");
      overlong = true;
    }
    if (overlong) pending.clear();
  }

  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  close(signal_fd);
  return 0;
}
