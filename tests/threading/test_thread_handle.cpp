// threading::Thread handles: moving them, dropping a started one (the thread goes on and
// stays reachable through enumerate()), and equality as identity.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pyconc/threading.hpp>

#include "support.hpp"

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::eventually;
using pyconc_test::kPrompt;

namespace {

// True when a thread with this name is in threading::enumerate().
bool listed(const std::string& name) {
  for (const auto& t : threading::enumerate())
    if (t->name() == name) return true;
  return false;
}

// ---- handles: move, drop ----------------------------------------------------------------

TEST(ThreadHandle, MovedFromHandleRaisesOnUse) {
  threading::Thread t([] {});
  threading::Thread u(std::move(t));
  EXPECT_THROW(t.start(), pyconc::RuntimeError);
  EXPECT_THROW(t.join(), pyconc::RuntimeError);
  EXPECT_THROW(t.join(1s), pyconc::RuntimeError);
  EXPECT_THROW(t.is_alive(), pyconc::RuntimeError);
  EXPECT_THROW(t.name(), pyconc::RuntimeError);
  EXPECT_THROW(t.set_name("x"), pyconc::RuntimeError);
  EXPECT_THROW(t.ident(), pyconc::RuntimeError);
  EXPECT_THROW(t.native_id(), pyconc::RuntimeError);
  EXPECT_THROW(t.daemon(), pyconc::RuntimeError);
  EXPECT_THROW(t.set_daemon(true), pyconc::RuntimeError);
  EXPECT_THROW(t.run(), pyconc::RuntimeError);

  threading::Thread w([] {});
  w = std::move(u);  // move assignment: u is moved-from now, w owns u's thread
  EXPECT_THROW(u.start(), pyconc::RuntimeError);
  w.start();
  w.join();
}

TEST(ThreadHandle, MovingAStartedTargetThreadIsFine) {
  threading::Event go;
  std::atomic<bool> done{false};
  threading::Thread t([&] {
    go.wait();
    done = true;
  });
  t.start();
  threading::Thread u(std::move(t));
  EXPECT_TRUE(u.is_alive());
  threading::Thread v([] {});
  v = std::move(u);
  EXPECT_TRUE(v.is_alive());
  go.set();
  v.join();
  EXPECT_TRUE(done.load());
  EXPECT_THROW(t.is_alive(), pyconc::RuntimeError);
  EXPECT_THROW(u.join(), pyconc::RuntimeError);
}

TEST(ThreadHandle, HandlesInAVectorSurviveReallocation) {
  threading::Event go;
  std::atomic<int> finished{0};
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      go.wait();
      ++finished;
    });
    threads.back().start();  // later emplace_back moves the started handles
  }
  go.set();
  for (auto& t : threads) t.join();
  EXPECT_EQ(finished.load(), 4);
}

TEST(ThreadHandle, DroppingAStartedHandleDoesNotStopTheThread) {
  auto go = std::make_shared<threading::Event>();
  auto done = std::make_shared<threading::Event>();
  std::string name;
  {
    threading::Thread t({.name = "dropped-worker"}, [go, done] {
      go->wait();
      done->set();
    });
    t.start();
    name = t.name();
  }  // handle gone; the thread is still there
  EXPECT_TRUE(listed(name));
  EXPECT_FALSE(done->is_set());
  go->set();
  EXPECT_TRUE(done->wait(kPrompt * 1s));
  EXPECT_TRUE(eventually([&] { return !listed(name); }));
}

TEST(ThreadHandle, DroppedThreadCanBeJoinedThroughEnumerate) {
  auto go = std::make_shared<threading::Event>();
  std::atomic<bool> done{false};
  {
    threading::Thread t({.name = "rejoined"}, [go, &done] {
      go->wait();
      done = true;
    });
    t.start();
  }
  std::shared_ptr<threading::Thread> again;
  for (auto& t : threading::enumerate())
    if (t->name() == "rejoined") again = t;
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->is_alive());
  go->set();
  again->join();
  EXPECT_FALSE(again->is_alive());
  EXPECT_TRUE(done.load());
}

TEST(ThreadHandle, EqualityIsIdentity) {
  threading::Thread a([] {});
  threading::Thread b([] {});
  EXPECT_TRUE(a == a);
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a != b);
  std::optional<bool> current_is_a;
  threading::Thread* pa = &a;
  a = threading::Thread([&] { current_is_a = threading::current_thread() == *pa; });
  a.start();
  a.join();
  ASSERT_TRUE(current_is_a.has_value());
  EXPECT_TRUE(*current_is_a);
}

}  // namespace
