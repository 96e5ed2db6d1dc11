// Tests for ServerState's connection registry: admission and registration are one step, so no
// connection can slip in after BeginStop() and escape Stop()'s shutdown.
#include "server_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "session.h"

namespace vigil::api {
namespace {

using tcp = boost::asio::ip::tcp;
using Admission = ServerState::Admission;
using ::testing::UnorderedElementsAre;

TEST(ServerStateTest, AdmitsRegistersAndRefusesOnceStopping) {
  boost::asio::io_context ioc;
  ServerOptions opts;
  opts.max_connections = 1;
  ServerState state(opts);

  std::shared_ptr<Session> served, rejected;
  EXPECT_EQ(state.AdmitAndRegister(tcp::socket(ioc), &served), Admission::kServe);
  ASSERT_NE(served, nullptr);
  EXPECT_EQ(state.AdmitAndRegister(tcp::socket(ioc), &rejected), Admission::kReject);
  ASSERT_NE(rejected, nullptr);

  // Both were registered by the same call that admitted them.
  EXPECT_THAT(state.BeginStop(), UnorderedElementsAre(served, rejected));

  tcp::socket late(ioc);
  late.open(tcp::v4());
  std::shared_ptr<Session> none;
  EXPECT_EQ(state.AdmitAndRegister(std::move(late), &none), Admission::kRefuse);
  EXPECT_EQ(none, nullptr);
  EXPECT_TRUE(late.is_open());  // not taken: the caller closes it
  late.close();

  EXPECT_FALSE(state.WaitForNoSessions(std::chrono::steady_clock::now()));
  served.reset();
  rejected.reset();
  EXPECT_TRUE(state.WaitForNoSessions(std::chrono::steady_clock::now() + std::chrono::seconds(5)));
}

TEST(ServerStateTest, EveryConnectionAdmittedConcurrentlyWithBeginStopIsInItsList) {
  boost::asio::io_context ioc;
  ServerOptions opts;
  opts.max_connections = 1 << 20;  // refusals come only from stopping
  ServerState state(opts);

  constexpr int kThreads = 4;
  constexpr size_t kMaxPerThread = 500;
  std::atomic<size_t> admitted{0};
  std::vector<std::vector<std::shared_ptr<Session>>> kept(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (kept[t].size() < kMaxPerThread) {
        std::shared_ptr<Session> s;
        if (state.AdmitAndRegister(tcp::socket(ioc), &s) == Admission::kRefuse) break;
        kept[t].push_back(std::move(s));
        admitted.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // Stop in the middle of the admissions (or after them, on a slow machine: still valid).
  while (admitted.load(std::memory_order_relaxed) < 200) std::this_thread::yield();
  std::vector<std::shared_ptr<Session>> live = state.BeginStop();
  for (std::thread& t : threads) t.join();

  size_t total = 0;
  for (const auto& v : kept) {
    for (const auto& s : v) {
      ++total;
      EXPECT_NE(std::find(live.begin(), live.end(), s), live.end())
          << "a session admitted but missed by BeginStop()";
    }
  }
  EXPECT_EQ(total, live.size());
}

}  // namespace
}  // namespace vigil::api
