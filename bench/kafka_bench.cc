// kafka_bench: Vigil consuming Kafka end to end, against the consumer-only ceiling, in one run.
//
// A mock Kafka cluster (librdkafka's, in a child process) gets the records of a JSON-lines log,
// keyed by cluster (one cluster per partition), from a producer thread that keeps at most
// --window records ahead of what the consumer has fetched (each mock partition keeps only its last
// ~5 MB): for both consumers alike, the records librdkafka handed over (for vigil
// vigil_kafka_records_total; --window-on applied counts its applied records instead, which holds
// the producer back by the depth of vigil's pipeline). Two consumers run one after the other over
// their own topic with the same records:
//   1. the ceiling: a librdkafka consumer group consuming every record, doing nothing with it;
//   2. `vigil serve` (the binary, with the full built-in pack, stateless + stateful, RocksDB),
//      its progress read from /metrics; its RSS sampled every 10% of the records.
// Prints one markdown table. Usage:
//   kafka_bench --vigil build/release/app/vigil --events audit.jsonl [--records 200000]
//               [--changelog 1]   (vigil with kafka.changelog: the scale-out state changelog)
//               [--instances N]   (N vigil serve processes in one group; RSS and CPU summed)
//               [--standby 1]     (with --changelog 1: kafka.standby_replicas: 1)
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "mock_cluster.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string vigil, events, workdir = "/tmp";
  size_t records = 200000;
  int partitions = 8;
  size_t window = 24000;
  bool prefill = false;      // produce everything first (over enough partitions to hold it)
  std::string extra_config;  // appended to vigil's config (e.g. "workers: 1")
  std::string trace;         // a timeline of both runs (seconds, produced, fetched, applied)
  // Consumer properties (--property K=V, repeatable) set on both consumers alike: the ceiling's
  // and vigil's (kafka.properties).
  std::vector<std::pair<std::string, std::string>> properties;
  bool window_on_applied = false;
  // --changelog 1: vigil runs with kafka.changelog (scale-out: every checkpoint also sent to
  // vigil-state-changelog, acknowledged before the local commit), to measure what it costs.
  bool changelog = false;
  int instances = 1;  // --instances N: vigil serve processes in one consumer group
  bool standby = false;  // --standby 1: each instance keeps a standby of the others' partitions
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "kafka_bench: %s\n", msg.c_str());
  std::exit(1);
}

std::string StartMock(pid_t* pid, const std::vector<std::string>& topics, int partitions) {
  std::string b = vigil::bench::StartMockCluster(pid, topics, partitions);
  if (b.empty()) Die("the mock cluster did not start");
  return b;
}

rd_kafka_t* Client(rd_kafka_type_t type, const std::string& bootstrap,
                   const std::vector<std::pair<std::string, std::string>>& props) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), errstr, sizeof errstr);
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      Die(k + ": " + errstr);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (rk == nullptr) Die(errstr);
  return rk;
}

// Produces records[i] (key: its cluster, partition: cluster index) while `consumed()` keeps up.
void Produce(const std::string& bootstrap, const std::string& topic,
             const std::vector<std::string>& records, int partitions, size_t window,
             const std::function<uint64_t()>& consumed, std::atomic<bool>* stop,
             std::atomic<uint64_t>* produced = nullptr) {
  rd_kafka_t* rk =
      Client(RD_KAFKA_PRODUCER, bootstrap,
             {{"linger.ms", "5"}, {"log_level", "3"}, {"queue.buffering.max.messages", "200000"}});
  for (size_t i = 0; i < records.size() && !stop->load(); ++i) {
    while (i > consumed() + window && !stop->load()) rd_kafka_poll(rk, 1);
    const int p = static_cast<int>(i % static_cast<size_t>(partitions));
    const std::string key = "cluster-" + std::to_string(p);
    while (rd_kafka_producev(
               rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(p),
               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key.data(), key.size()),
               RD_KAFKA_V_VALUE(const_cast<char*>(records[i].data()), records[i].size()),
               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 1);
    }
    rd_kafka_poll(rk, 0);
    if (produced != nullptr) produced->store(i + 1);
  }
  rd_kafka_flush(rk, 60000);
  rd_kafka_destroy(rk);
}

std::string HttpGet(uint16_t port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string resp;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return resp;
}

uint64_t MetricValue(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + name.size() + 2, nullptr, 10);
}

// The sum of a metric over its labelled lines (`name{...} value`).
uint64_t MetricSum(const std::string& text, const std::string& name) {
  uint64_t sum = 0;
  const std::string key = "\n" + name + "{";
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    const size_t space = text.find("} ", at);
    if (space == std::string::npos) break;
    sum += std::strtoull(text.c_str() + space + 2, nullptr, 10);
  }
  return sum;
}

long RssKb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field, 0) == 0)
      return std::strtol(line.c_str() + std::strlen(field), nullptr, 10);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--vigil")
      args.vigil = v;
    else if (k == "--events")
      args.events = v;
    else if (k == "--records")
      args.records = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--workdir")
      args.workdir = v;
    else if (k == "--window")
      args.window = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--partitions")
      args.partitions = std::atoi(v.c_str());
    else if (k == "--prefill")
      args.prefill = v == "1" || v == "true";
    else if (k == "--instances")
      args.instances = std::atoi(v.c_str());
    else if (k == "--changelog")
      args.changelog = v == "1";
    else if (k == "--standby")
      args.standby = v == "1";
    else if (k == "--config")
      args.extra_config = v;
    else if (k == "--window-on")
      args.window_on_applied = v == "applied";
    else if (k == "--trace")
      args.trace = v;
    else if (k == "--property" && v.find('=') != std::string::npos)
      args.properties.emplace_back(v.substr(0, v.find('=')), v.substr(v.find('=') + 1));
    else
      Die("unknown option " + k);
  }
  if (args.vigil.empty() || args.events.empty()) Die("usage: --vigil PATH --events FILE");
  std::vector<std::string> records;
  uint64_t bytes = 0;
  {
    std::ifstream in(args.events);
    for (std::string line; records.size() < args.records && std::getline(in, line);) {
      if (line.empty()) continue;
      bytes += line.size();
      records.push_back(std::move(line));
    }
  }
  if (records.empty()) Die("no records in " + args.events);
  const uint64_t n = records.size();

  pid_t mock = 0;
  const std::string bootstrap =
      StartMock(&mock, {"ceiling", "vigil", "vigil-state-changelog"}, args.partitions);
  if (args.prefill) {
    // Both topics filled before anything consumes: the consumers then compete with nothing.
    std::atomic<bool> never{false};
    for (const char* topic : {"ceiling", "vigil"}) {
      Produce(
          bootstrap, topic, records, args.partitions, records.size(), [] { return 0; }, &never);
    }
  }
  const bool concurrent = !args.prefill;
  // --trace: (run, seconds since the start of the run, produced, fetched, applied).
  struct Sample {
    const char* run;
    double t;
    uint64_t produced, fetched, applied;
  };
  std::vector<Sample> trace;

  // 1. The ceiling: consume everything, do nothing.
  double ceiling_s = 0;
  {
    std::atomic<uint64_t> consumed{0}, produced{0};
    std::atomic<bool> stop{false};
    std::thread producer([&] {
      if (concurrent) {
        Produce(
            bootstrap, "ceiling", records, args.partitions, args.window,
            [&] { return consumed.load(); }, &stop, &produced);
      }
    });
    std::thread sampler([&] {
      const auto start = Clock::now();
      while (!args.trace.empty() && !stop.load()) {
        const uint64_t c = consumed.load();
        trace.push_back({"ceiling", std::chrono::duration<double>(Clock::now() - start).count(),
                         produced.load(), c, c});
        usleep(5000);
      }
    });
    std::vector<std::pair<std::string, std::string>> props = {
        {"group.id", "ceiling"},
        {"auto.offset.reset", "earliest"},
        {"enable.auto.commit", "false"},
        {"log_level", "3"},
        {"partition.assignment.strategy", "cooperative-sticky"}};
    props.insert(props.end(), args.properties.begin(), args.properties.end());
    rd_kafka_t* rk = Client(RD_KAFKA_CONSUMER, bootstrap, props);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, "ceiling", RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    Clock::time_point first{};
    const auto deadline = Clock::now() + std::chrono::minutes(10);
    while (consumed.load() < n && Clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (consumed.load() == 0) first = Clock::now();
        consumed.fetch_add(1);
      }
      rd_kafka_message_destroy(m);
    }
    ceiling_s = std::chrono::duration<double>(Clock::now() - first).count();
    stop = true;
    producer.join();
    sampler.join();
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (consumed.load() < n) Die("the ceiling consumer did not get every record");
  }

  // 2. vigil serve with the full pack and RocksDB (--instances N: N processes in one group, each
  // with a store of its own).
  const int instances = std::max(args.instances, 1);
  std::vector<pid_t> vigils;
  std::vector<uint16_t> ports;
  for (int i = 0; i < instances; ++i) {
    const std::string dir = args.workdir + "/kafka-bench-db-" + std::to_string(i);
    std::system(("rm -rf " + dir).c_str());
    const std::string config = args.workdir + "/kafka-bench-" + std::to_string(i) + ".yaml";
    {
      std::ofstream c(config);
      c << "db: " << dir << "\nlisten: 127.0.0.1:0\nlog: {level: warn}\nkafka:\n  brokers: \""
        << bootstrap << "\"\n  group: vigil\n  topics: [{name: vigil, cluster_from: key}]\n";
      if (args.changelog) c << "  changelog: true\n";
      if (args.changelog && args.standby) c << "  standby_replicas: 1\n";
      if (!args.properties.empty()) {
        c << "  properties:\n";
        for (const auto& [k, v] : args.properties) c << "    " << k << ": \"" << v << "\"\n";
      }
      c << args.extra_config << "\n";
    }
    int out[2];
    if (pipe(out) != 0) Die("pipe");
    pid_t vigil = fork();
    if (vigil == 0) {
      dup2(out[1], 1);
      close(out[0]);
      execl(args.vigil.c_str(), args.vigil.c_str(), "serve", "--config", config.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char ch;
    while (read(out[0], &ch, 1) == 1 && ch != '\n') line.push_back(ch);
    const size_t at = line.find("127.0.0.1:");
    if (at == std::string::npos) Die("vigil serve did not start: " + line);
    vigils.push_back(vigil);
    ports.push_back(static_cast<uint16_t>(std::stoi(line.substr(at + 10))));
  }
  auto sum = [&](const char* name, bool labelled) {
    uint64_t total = 0;
    for (uint16_t port : ports) {
      const std::string m = HttpGet(port, "/metrics");
      total += labelled ? MetricSum(m, name) : MetricValue(m, name);
    }
    return total;
  };
  if (instances > 1) {
    // The group settles first: every partition assigned, each instance with some.
    const auto settle = Clock::now() + std::chrono::minutes(2);
    while (Clock::now() < settle) {
      uint64_t assigned = 0;
      bool each = true;
      for (uint16_t port : ports) {
        const uint64_t a = MetricValue(HttpGet(port, "/metrics"), "vigil_kafka_assigned_partitions");
        assigned += a;
        each = each && a > 0;
      }
      if (each && assigned == static_cast<uint64_t>(args.partitions)) break;
      usleep(50000);
    }
  }
  std::atomic<uint64_t> applied{0}, fetched{0}, produced{0};
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    if (concurrent) {
      Produce(
          bootstrap, "vigil", records, args.partitions, args.window,
          [&] { return args.window_on_applied ? applied.load() : fetched.load(); }, &stop,
          &produced);
    }
  });
  const auto start = Clock::now();
  Clock::time_point first{};
  std::vector<long> rss;
  size_t next_sample = 0;
  auto rss_of_all = [&](const char* field) {
    long total = 0;
    for (pid_t v : vigils) total += RssKb(v, field);
    return total;
  };
  const auto deadline = Clock::now() + std::chrono::minutes(10);
  while (applied.load() < n && Clock::now() < deadline) {
    const uint64_t a = sum("vigil_events_read_total", false);
    const uint64_t f = sum("vigil_kafka_records_total", true);
    if (f > fetched.load()) fetched = f;
    if (!args.trace.empty()) {
      trace.push_back({"vigil", std::chrono::duration<double>(Clock::now() - start).count(),
                       produced.load(), f, a});
    }
    if (a > 0 && applied.load() == 0) first = Clock::now();
    applied = a;
    while (next_sample <= 10 && a >= n * next_sample / 10) {
      rss.push_back(rss_of_all("VmRSS:"));
      ++next_sample;
    }
    usleep(5000);  // a pause between two looks at /metrics (the measure, not a wait in a test)
  }
  const double vigil_s = std::chrono::duration<double>(Clock::now() - first).count();
  const long peak = rss_of_all("VmHWM:");
  std::string changelog_line;
  if (args.changelog) {
    // What the state changelog took, once the last checkpoint is out (up to a checkpoint
    // interval after the last record is applied: read it until it stops moving for longer).
    uint64_t records_out = 0, bytes_out = 0;
    for (int i = 0; i < 20; ++i) {
      const uint64_t r = sum("vigil_changelog_records_total", false);
      const uint64_t b = sum("vigil_changelog_bytes_total", false);
      if (i > 0 && r == records_out && b == bytes_out) break;
      records_out = r;
      bytes_out = b;
      usleep(1500000);
    }
    changelog_line = "State changelog: " + std::to_string(records_out) + " records, " +
                     std::to_string(bytes_out) + " bytes of keys and values with the findings (" +
                     std::to_string(bytes_out / std::max<uint64_t>(n, 1)) + " bytes per event).\n";
  }
  stop = true;
  producer.join();
  int status = 0;
  double cpu = 0;
  for (pid_t v : vigils) kill(v, SIGTERM);
  for (pid_t v : vigils) {
    int st = 0;
    rusage usage{};
    wait4(v, &st, 0, &usage);
    if (status == 0) status = st;
    cpu += usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
           (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }
  kill(mock, SIGKILL);
  waitpid(mock, nullptr, 0);
  if (applied.load() < n) Die("vigil did not apply every record in time");
  if (!args.trace.empty()) {
    std::ofstream t(args.trace);
    t << "run\tseconds\tproduced\tfetched\tapplied\n";
    for (const Sample& smp : trace) {
      t << smp.run << '\t' << smp.t << '\t' << smp.produced << '\t' << smp.fetched << '\t'
        << smp.applied << '\n';
    }
  }

  const double mb = bytes / 1e6;
  if (!changelog_line.empty()) std::printf("%s\n", changelog_line.c_str());
  std::printf("| run | events/s | MB/s | seconds | vs ceiling |\n|---|---|---|---|---|\n");
  std::printf(
      "| consumer-only ceiling (librdkafka, no processing) | %.0f | %.1f | %.2f | 100%% |\n",
      n / ceiling_s, mb / ceiling_s, ceiling_s);
  std::printf("| vigil serve x%d, Kafka, full pack + RocksDB | %.0f | %.1f | %.2f | %.0f%% |\n",
              instances, n / vigil_s, mb / vigil_s, vigil_s, 100.0 * ceiling_s / vigil_s);
  std::printf(
      "\n%llu records (%.1f MB) over %d partitions, %s; "
      "vigil serve exit status %d; vigil serve used %.2f CPU s in all (%.0f events per "
      "CPU second; the producer and the mock broker share the same cores).\n\nRSS of "
      "vigil serve (MB) at 0%%, 10%%, ... 100%% of the records:",
      static_cast<unsigned long long>(n), mb, args.partitions,
      args.prefill ? "all produced before consuming"
                   : ("produced while consumed, at most " + std::to_string(args.window) +
                      " records ahead of what the consumer " +
                      (args.window_on_applied ? "applied" : "fetched"))
                         .c_str(),
      WIFEXITED(status) ? WEXITSTATUS(status) : -1, cpu, cpu > 0 ? n / cpu : 0.0);
  for (long r : rss) std::printf(" %.0f", r / 1024.0);
  std::printf("; peak %.0f MB.\n", peak / 1024.0);
  return 0;
}
