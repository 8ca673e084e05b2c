// threading's module-level functions: current_thread, main_thread, enumerate,
// active_count, get_ident, get_native_id, stack_size, TIMEOUT_MAX. The excepthook is in
// test_excepthook.cpp; what happens to running threads at exit, in test_exit_behaviour.cpp.
#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <pyconc/threading.hpp>

#include "support.hpp"

namespace threading = pyconc::threading;
using namespace std::chrono_literals;
using pyconc_test::eventually;
using pyconc_test::kPrompt;

namespace {

std::vector<std::string> names_listed() {
  std::vector<std::string> names;
  for (const auto& t : threading::enumerate()) names.push_back(t->name());
  return names;
}

bool listed(const std::string& name) {
  auto names = names_listed();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// ---- current_thread / main_thread -------------------------------------------------------

TEST(MainThread, IsTheCurrentThreadOfMain) {
  threading::Thread& main = threading::main_thread();
  EXPECT_EQ(&threading::current_thread(), &main);
  EXPECT_TRUE(threading::current_thread() == main);
  EXPECT_EQ(main.name(), "MainThread");
  EXPECT_FALSE(main.daemon());
  EXPECT_TRUE(main.is_alive());
  ASSERT_TRUE(main.ident().has_value());
  EXPECT_EQ(*main.ident(), threading::get_ident());
  ASSERT_TRUE(main.native_id().has_value());
  EXPECT_EQ(*main.native_id(), threading::get_native_id());
  EXPECT_EQ(*main.native_id(), static_cast<long>(getpid()));
}

TEST(MainThread, CannotBeJoinedFromItselfNorMadeDaemon) {
  threading::Thread& main = threading::main_thread();
  EXPECT_THROW(main.join(), pyconc::RuntimeError);
  EXPECT_THROW(main.join(1s), pyconc::RuntimeError);
  EXPECT_THROW(main.start(), pyconc::RuntimeError);
  EXPECT_THROW(main.set_daemon(true), pyconc::RuntimeError);
  EXPECT_FALSE(main.daemon());
}

TEST(MainThread, SeenAsMainFromOtherThreads) {
  std::optional<bool> main_is_main, main_is_current, main_alive;
  std::string main_name;
  threading::Thread t([&] {
    main_is_main = &threading::main_thread() == &threading::main_thread();
    main_is_current = threading::main_thread() == threading::current_thread();
    main_alive = threading::main_thread().is_alive();
    main_name = threading::main_thread().name();
  });
  t.start();
  t.join();
  ASSERT_TRUE(main_is_main && main_is_current && main_alive);
  EXPECT_TRUE(*main_is_main);
  EXPECT_FALSE(*main_is_current);
  EXPECT_TRUE(*main_alive);
  EXPECT_EQ(main_name, "MainThread");
}

TEST(CurrentThread, InsideAThreadIsThatThread) {
  std::optional<bool> is_t, same_object_twice;
  std::string name;
  std::optional<unsigned long> ident;
  threading::Thread* self = nullptr;
  threading::Thread t({.name = "inside"}, [&] {
    threading::Thread& c = threading::current_thread();
    is_t = c == *self;
    same_object_twice = &c == &threading::current_thread();
    name = c.name();
    ident = c.ident();
  });
  self = &t;
  t.start();
  t.join();
  ASSERT_TRUE(is_t && same_object_twice);
  EXPECT_TRUE(*is_t);
  EXPECT_TRUE(*same_object_twice);
  EXPECT_EQ(name, "inside");
  EXPECT_EQ(ident, t.ident());
  EXPECT_FALSE(threading::current_thread() == t);  // main is not t
}

class Recorder : public threading::Thread {
 public:
  void run() override { current_ = &threading::current_thread(); }
  const threading::Thread* current() const { return current_; }

 private:
  const threading::Thread* current_ = nullptr;
};

TEST(CurrentThread, InsideASubclassThreadIsTheObjectItself) {
  Recorder r;
  r.start();
  r.join();
  EXPECT_EQ(r.current(), &r);
}

TEST(CurrentThread, InAStdThreadIsADummy) {
  threading::Event reported, go;
  std::string name;
  std::optional<bool> daemon, alive, same_twice, join_raised, timed_join_raised, child_daemon;
  std::optional<unsigned long> ident, real_ident;
  std::optional<long> native, real_native;
  std::thread t([&] {
    threading::Thread& me = threading::current_thread();
    name = me.name();
    daemon = me.daemon();
    alive = me.is_alive();
    same_twice = &me == &threading::current_thread();
    ident = me.ident();
    native = me.native_id();
    real_ident = threading::get_ident();
    real_native = threading::get_native_id();
    join_raised = false;
    try {
      me.join();
    } catch (const pyconc::RuntimeError&) {
      join_raised = true;
    }
    timed_join_raised = false;
    try {
      me.join(10ms);
    } catch (const pyconc::RuntimeError&) {
      timed_join_raised = true;
    }
    threading::Thread child([] {});  // inherits the dummy's daemon flag
    child_daemon = child.daemon();
    reported.set();
    go.wait();
  });
  ASSERT_TRUE(reported.wait(kPrompt * 1s));
  EXPECT_EQ(name.rfind("Dummy-", 0), 0u) << name;
  EXPECT_TRUE(daemon.value_or(false));
  EXPECT_TRUE(alive.value_or(false));
  EXPECT_TRUE(same_twice.value_or(false));
  EXPECT_TRUE(join_raised.value_or(false));
  EXPECT_TRUE(timed_join_raised.value_or(false));
  EXPECT_TRUE(child_daemon.value_or(false));
  EXPECT_EQ(ident, real_ident);
  EXPECT_EQ(native, real_native);

  // Listed while the std::thread lives, and joinable by nobody.
  std::shared_ptr<threading::Thread> entry;
  for (auto& e : threading::enumerate())
    if (e->name() == name) entry = e;
  ASSERT_TRUE(entry);
  EXPECT_TRUE(entry->is_alive());
  EXPECT_TRUE(entry->daemon());
  EXPECT_THROW(entry->join(), pyconc::RuntimeError);

  go.set();
  t.join();
  EXPECT_TRUE(eventually([&] { return !listed(name); }, kPrompt * 1s));
  EXPECT_FALSE(entry->is_alive());
}

TEST(CurrentThread, EachStdThreadGetsItsOwnDummy) {
  std::string a, b;
  std::thread ta([&] { a = threading::current_thread().name(); });
  ta.join();
  std::thread tb([&] { b = threading::current_thread().name(); });
  tb.join();
  EXPECT_EQ(a.rfind("Dummy-", 0), 0u) << a;
  EXPECT_EQ(b.rfind("Dummy-", 0), 0u) << b;
  EXPECT_NE(a, b);
  EXPECT_TRUE(eventually([&] { return !listed(a) && !listed(b); }, kPrompt * 1s));
}

TEST(CurrentThread, StdThreadThatNeverAsksIsNotListed) {
  std::size_t before = threading::active_count();
  threading::Event running, go;
  std::thread t([&] {
    running.set();
    go.wait();
  });
  ASSERT_TRUE(running.wait(kPrompt * 1s));
  EXPECT_EQ(threading::active_count(), before);
  go.set();
  t.join();
}

// ---- enumerate / active_count -----------------------------------------------------------

TEST(Enumerate, ContainsMainAndRunningThreads) {
  threading::Event go;
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(threading::ThreadOptions{.name = "enum-" + std::to_string(i)}, [&] { go.wait(); });
  std::size_t before = threading::active_count();
  EXPECT_TRUE(listed("MainThread"));
  EXPECT_FALSE(listed("enum-0"));  // not started yet
  for (auto& t : threads) t.start();

  auto all = threading::enumerate();
  EXPECT_EQ(all.size(), threading::active_count());
  EXPECT_EQ(threading::active_count(), before + 3);
  int found = 0;
  bool main_found = false;
  for (auto& e : all) {
    if (*e == threading::main_thread()) main_found = true;
    for (auto& t : threads)
      if (*e == t) ++found;
  }
  EXPECT_TRUE(main_found);
  EXPECT_EQ(found, 3);

  go.set();
  for (auto& t : threads) t.join();
  // join() returns after the thread left the registry.
  EXPECT_EQ(threading::active_count(), before);
  EXPECT_FALSE(listed("enum-0"));
  EXPECT_FALSE(listed("enum-2"));
}

TEST(Enumerate, AFinishedThreadDisappears) {
  threading::Thread t({.name = "short-lived"}, [] {});
  t.start();
  t.join();
  EXPECT_FALSE(listed("short-lived"));
  for (auto& e : threading::enumerate()) EXPECT_FALSE(*e == t);
}

TEST(Enumerate, HandlesFromEnumerateAreTheThreads) {
  threading::Event go;
  threading::Thread t({.name = "via-enumerate"}, [&] { go.wait(); });
  t.start();
  std::shared_ptr<threading::Thread> e;
  for (auto& x : threading::enumerate())
    if (x->name() == "via-enumerate") e = x;
  ASSERT_TRUE(e);
  EXPECT_TRUE(*e == t);
  EXPECT_EQ(e->ident(), t.ident());
  e->set_name("renamed-via-enumerate");
  EXPECT_EQ(t.name(), "renamed-via-enumerate");
  EXPECT_THROW(e->start(), pyconc::RuntimeError);
  EXPECT_FALSE(e->join(0s));
  go.set();
  EXPECT_TRUE(e->join(kPrompt * 1s));
  EXPECT_FALSE(t.is_alive());
}

TEST(Enumerate, PythonIdiomJoinsEveryOtherThread) {
  std::atomic<int> finished{0};
  threading::Event go;
  for (int i = 0; i < 4; ++i) {
    threading::Thread t([&] {
      go.wait();
      ++finished;
    });
    t.start();  // handle dropped
  }
  go.set();
  // for t in threading.enumerate(): if t is not threading.main_thread(): t.join()
  for (auto& t : threading::enumerate()) {
    if (*t != threading::main_thread()) t->join();
  }
  EXPECT_EQ(finished.load(), 4);
  EXPECT_EQ(threading::active_count(), 1u);
}

TEST(ActiveCount, CountsConsistentWhileThreadsComeAndGo) {
  std::size_t base = threading::active_count();
  EXPECT_GE(base, 1u);
  std::vector<std::unique_ptr<threading::Event>> gates;
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 5; ++i) {
    gates.push_back(std::make_unique<threading::Event>());
    threading::Event* gate = gates.back().get();
    threads.emplace_back([gate] { gate->wait(); });
    threads.back().start();
    EXPECT_EQ(threading::active_count(), base + static_cast<std::size_t>(i) + 1);
  }
  for (int i = 0; i < 5; ++i) {
    gates[static_cast<std::size_t>(i)]->set();
    threads[static_cast<std::size_t>(i)].join();
    EXPECT_EQ(threading::active_count(), base + 4 - static_cast<std::size_t>(i));
    EXPECT_EQ(threading::enumerate().size(), threading::active_count());
  }
}

// ---- get_ident / get_native_id ----------------------------------------------------------

TEST(Ident, DistinctPerLiveThreadAndMatchingTheKernel) {
  constexpr int kThreads = 4;
  threading::Barrier all_here(kThreads + 1);
  std::mutex mutex;
  std::set<unsigned long> idents{threading::get_ident()};
  std::set<long> natives{threading::get_native_id()};
  std::atomic<int> kernel_mismatch{0};
  std::vector<threading::Thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      if (threading::get_native_id() != static_cast<long>(syscall(SYS_gettid))) ++kernel_mismatch;
      if (threading::get_ident() != static_cast<unsigned long>(pthread_self())) ++kernel_mismatch;
      {
        std::lock_guard<std::mutex> guard(mutex);
        idents.insert(threading::get_ident());
        natives.insert(threading::get_native_id());
      }
      all_here.wait(kPrompt * 1s);  // all alive at once: ids cannot be reused
    });
  }
  for (auto& t : threads) t.start();
  all_here.wait(kPrompt * 1s);
  for (auto& t : threads) t.join();
  EXPECT_EQ(kernel_mismatch.load(), 0);
  EXPECT_EQ(idents.size(), static_cast<std::size_t>(kThreads + 1));
  EXPECT_EQ(natives.size(), static_cast<std::size_t>(kThreads + 1));
  EXPECT_EQ(threading::get_native_id(), static_cast<long>(getpid()));  // main
}

// ---- stack_size -------------------------------------------------------------------------

TEST(StackSize, SetGetAndValidate) {
  EXPECT_EQ(threading::stack_size(), 0u);
  EXPECT_EQ(threading::stack_size(32768 * 8), 0u);  // returns the old size
  EXPECT_EQ(threading::stack_size(), 32768u * 8);
  EXPECT_THROW(threading::stack_size(32767), pyconc::ValueError);
  EXPECT_THROW(threading::stack_size(1), pyconc::ValueError);
  // Python's stack_size(-1) is a ValueError; a size that wrapped to 2^64-1 would not be.
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { threading::stack_size(-1); }),
            "size must be 0 or a positive value");
  EXPECT_EQ(pyconc_test::message_of<pyconc::ValueError>([] { threading::stack_size(100); }),
            "size not valid: 100 bytes");
  EXPECT_EQ(threading::stack_size(), 32768u * 8);  // unchanged by the failures
  EXPECT_EQ(threading::stack_size(32768 * 4), 32768u * 8);
  EXPECT_EQ(threading::stack_size(), 32768u * 4);

  // A thread started with the size set runs normally.
  std::atomic<long> result{0};
  threading::Thread t([&] {
    char buffer[16 * 1024];
    for (std::size_t i = 0; i < sizeof buffer; ++i) buffer[i] = static_cast<char>(i);
    long sum = 0;
    for (char c : buffer) sum += static_cast<unsigned char>(c);
    result = sum;
  });
  t.start();
  t.join();
  EXPECT_EQ(result.load(), 64L * (255 * 256 / 2));

  EXPECT_EQ(threading::stack_size(0), 32768u * 4);  // back to the default
  EXPECT_EQ(threading::stack_size(), 0u);
  EXPECT_EQ(threading::stack_size(32768), 0u);  // the minimum is accepted
  EXPECT_EQ(threading::stack_size(0), 32768u);
}

// ---- TIMEOUT_MAX ------------------------------------------------------------------------

TEST(TimeoutMax, IsLargeAndWaitsWork) {
  EXPECT_GT(threading::TIMEOUT_MAX.count(), 1e9);  // Python: about 9.2e9 on Linux
  threading::Event go;
  threading::Thread t([&] { go.wait(threading::TIMEOUT_MAX); });
  t.start();
  go.set();
  EXPECT_TRUE(t.join(threading::TIMEOUT_MAX));
  threading::Event set;
  set.set();
  EXPECT_TRUE(set.wait(threading::TIMEOUT_MAX));
}

}  // namespace
