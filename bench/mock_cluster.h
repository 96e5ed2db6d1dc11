// librdkafka's mock cluster in a forked child process, for the Kafka benchmarks (the release
// build has no tests, so no vigil-kafka-mock binary). Header-only.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace vigil::bench {

// Starts the mock with `topics` of `partitions` each; returns its bootstrap servers, or "" when
// it did not start. *pid is the child's (kill it when done).
inline std::string StartMockCluster(pid_t* pid, const std::vector<std::string>& topics,
                                    int partitions) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  *pid = fork();
  if (*pid == 0) {
    close(fds[0]);
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, 1);
    for (const std::string& t : topics) rd_kafka_mock_topic_create(mc, t.c_str(), partitions, 1);
    std::string b = rd_kafka_mock_cluster_bootstraps(mc);
    b += "\n";
    if (write(fds[1], b.data(), b.size()) < 0) _exit(1);
    close(fds[1]);
    while (true) pause();
  }
  close(fds[1]);
  std::string b;
  char c;
  while (read(fds[0], &c, 1) == 1 && c != '\n') b.push_back(c);
  close(fds[0]);
  return b;
}

}  // namespace vigil::bench
