// Connections passed to multiprocessing::Process under every start method.
#include <signal.h>

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/connection.hpp"

namespace mp = pyconc::multiprocessing;
using mp::Connection;
using namespace std::chrono_literals;

namespace {

// As with OS pipes, a fork child inherits every fd of its parent, the parent's end
// included: it closes that end, or it would never see EOF (Python is the same).
void echo(Connection conn, Connection parent_end) {
  parent_end.close();
  for (;;) {
    int v;
    try {
      v = conn.recv<int>();
    } catch (const pyconc::EOFError&) {
      return;
    }
    conn.send(v + 1);
  }
}

void send_and_block(Connection conn, Connection blocker) {
  conn.send(std::string("ready"));
  blocker.recv_bytes();  // never comes: the test kills us
}

void send_three(Connection a, Connection b, int which) {
  if (which == 0) a.send(10);
  else b.send(20);
}

class ConnectionProcess : public ::testing::TestWithParam<std::string> {
 protected:
  mp::Context ctx() const { return mp::get_context(GetParam()); }
};

}  // namespace

TEST_P(ConnectionProcess, EchoChild) {
  Connection parent, child;
  std::tie(parent, child) = mp::Pipe();
  auto p = ctx().Process(echo, child, parent);
  p.start();
  child.close();
  for (int i = 0; i < 500; ++i) {
    parent.send(i);
    ASSERT_EQ(parent.recv<int>(), i + 1);
  }
  parent.close();  // the child's recv raises EOFError and it returns
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(ConnectionProcess, KilledChildMeansEOFAndBrokenPipe) {
  Connection parent, child;
  std::tie(parent, child) = mp::Pipe();
  Connection blocker_r, blocker_w;
  std::tie(blocker_r, blocker_w) = mp::Pipe(false);
  auto p = ctx().Process(send_and_block, child, blocker_r);
  p.start();
  child.close();
  blocker_r.close();
  EXPECT_EQ(parent.recv<std::string>(), "ready");
  p.kill();
  p.join();
  EXPECT_EQ(p.exitcode(), -SIGKILL);
  EXPECT_THROW(parent.recv<int>(), pyconc::EOFError);
  EXPECT_THROW(parent.send(1), pyconc::BrokenPipeError);
}

TEST_P(ConnectionProcess, WaitOverPipesAndASentinel) {
  Connection r1, w1;
  std::tie(r1, w1) = mp::Pipe(false);
  Connection r2, w2;
  std::tie(r2, w2) = mp::Pipe(false);
  auto p = ctx().Process(send_three, w1, w2, 1);
  p.start();
  w1.close();
  w2.close();
  std::vector<mp::connection::Waitable> objs{r1, r2, p.sentinel()};
  auto ready = mp::connection::wait(objs, 30s);
  ASSERT_FALSE(ready.empty());
  bool got_r2 = false;
  for (auto& w : ready) got_r2 = got_r2 || w == mp::connection::Waitable(r2);
  if (!got_r2) {  // the sentinel may come first; r2's data must be there by then
    EXPECT_TRUE(r2.poll());
  }
  EXPECT_EQ(r2.recv<int>(), 20);
  p.join();
  // now everything is ready: r1 and r2 at EOF, the sentinel readable
  ready = mp::connection::wait(objs, 30s);
  EXPECT_EQ(ready.size(), 3u);
  EXPECT_THROW(r1.recv<int>(), pyconc::EOFError);
}

INSTANTIATE_TEST_SUITE_P(Methods, ConnectionProcess, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);
