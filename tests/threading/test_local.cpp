// threading::local<T>: one value per thread, made on first use, destroyed when the
// thread exits or the local is destroyed.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
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

// Counts its constructions and destructions (per test: reset in the fixture).
struct Counted {
  static std::atomic<int> constructed;
  static std::atomic<int> destroyed;
  Counted() : value(0) { ++constructed; }
  explicit Counted(int v) : value(v) { ++constructed; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  ~Counted() { ++destroyed; }
  int value;
};
std::atomic<int> Counted::constructed{0};
std::atomic<int> Counted::destroyed{0};

class Local : public ::testing::Test {
 protected:
  void SetUp() override {
    Counted::constructed = 0;
    Counted::destroyed = 0;
  }
};

TEST_F(Local, EachThreadSeesItsOwnValueInitialisedValue) {
  threading::local<int> n;
  EXPECT_EQ(*n, 0);
  *n = 5;
  int seen_first = -1, seen_after_write = -1;
  threading::Thread t([&] {
    seen_first = *n;
    *n = 7;
    seen_after_write = *n;
  });
  t.start();
  t.join();
  EXPECT_EQ(seen_first, 0);
  EXPECT_EQ(seen_after_write, 7);
  EXPECT_EQ(*n, 5);
  EXPECT_EQ(n.get(), 5);
}

TEST_F(Local, ConstructorArgumentsMakeEveryThreadsValue) {
  threading::local<std::string> s("x");
  EXPECT_EQ(*s, "x");
  *s += "-main";
  std::string seen_first, seen_after;
  threading::Thread t([&] {
    seen_first = *s;
    *s += "-thread";
    seen_after = *s;
  });
  t.start();
  t.join();
  EXPECT_EQ(seen_first, "x");
  EXPECT_EQ(seen_after, "x-thread");
  EXPECT_EQ(*s, "x-main");

  threading::local<std::vector<int>> v(std::size_t{3}, 7);
  std::vector<int> seen_vector;
  threading::Thread u([&] { seen_vector = *v; });
  u.start();
  u.join();
  EXPECT_EQ(seen_vector, (std::vector<int>{7, 7, 7}));
  EXPECT_EQ(*v, (std::vector<int>{7, 7, 7}));
}

TEST_F(Local, ArrowAndStar) {
  threading::local<std::string> s("abc");
  EXPECT_EQ(s->size(), 3u);
  s->append("d");
  EXPECT_EQ(*s, "abcd");
  (*s)[0] = 'A';
  EXPECT_EQ(s.get(), "Abcd");
  std::size_t size_in_thread = 0;
  threading::Thread t([&] { size_in_thread = s->size(); });
  t.start();
  t.join();
  EXPECT_EQ(size_in_thread, 3u);
}

TEST_F(Local, ManyThreadsAtOnceKeepTheirValues) {
  constexpr int kThreads = 8;
  threading::local<int> mine(-1);
  threading::Barrier all_written(kThreads);
  std::atomic<int> mismatches{0};
  std::atomic<int> started_as_default{0};
  std::vector<threading::Thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(
        [&](int k) {
          if (*mine == -1) ++started_as_default;
          *mine = k;
          all_written.wait(kPrompt * 1s);  // every thread has written its own value
          for (int round = 0; round < 100; ++round)
            if (*mine != k) ++mismatches;
        },
        i);
  }
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  EXPECT_EQ(started_as_default.load(), kThreads);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(*mine, -1);  // main's own value, made now
}

TEST_F(Local, ValueIsMadeOnlyOnFirstUseInAThread) {
  threading::local<Counted> c;
  threading::Thread untouched([] {});
  untouched.start();
  untouched.join();
  EXPECT_EQ(Counted::constructed.load(), 0);
  threading::Thread touched([&] {
    c->value = 1;
    c->value += 1;  // the same value, not a second one
  });
  touched.start();
  touched.join();
  EXPECT_EQ(Counted::constructed.load(), 1);
}

TEST_F(Local, ValuesAreDestroyedWhenTheirThreadExits) {
  threading::local<Counted> c(3);
  constexpr int kThreads = 4;
  std::atomic<int> sum{0};
  std::vector<threading::Thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back([&] { sum += c->value; });
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  EXPECT_EQ(sum.load(), 3 * kThreads);
  EXPECT_EQ(Counted::constructed.load(), kThreads);
  // As in Python, a thread's values are gone once join() has seen it finish.
  EXPECT_EQ(Counted::destroyed.load(), kThreads);
}

// Appends to a plain (unsynchronised) vector when destroyed.
struct Flusher {
  std::vector<int>* sink = nullptr;
  int value = 0;
  ~Flusher() {
    if (sink) sink->push_back(value);
  }
};

TEST_F(Local, DestructorEffectsAreVisibleAfterJoin) {
  threading::local<Flusher> f;
  std::vector<int> sink_a, sink_b;  // one per thread: no lock needed
  threading::Thread a([&] {
    f->sink = &sink_a;
    f->value = 1;
  });
  threading::Thread b([&] {
    f->sink = &sink_b;
    f->value = 2;
  });
  a.start();
  b.start();
  a.join();
  b.join();
  // join() orders the value's destruction before these reads (ThreadSanitizer checks).
  EXPECT_EQ(sink_a, std::vector<int>{1});
  EXPECT_EQ(sink_b, std::vector<int>{2});
}

TEST_F(Local, DestructorOfAValueMayUseOtherLocalsAtThreadExit) {
  // Whatever order the thread's values are destroyed in, a value's destructor that uses
  // the thread's other locals finds a live value (the old one, or a fresh one that is
  // destroyed in turn) -- never a destroyed one.
  static std::vector<std::unique_ptr<threading::local<Counted>>>* others = nullptr;
  struct Toucher {
    ~Toucher() {
      for (auto& o : *others) (*o)->value += 1;
    }
  };
  std::vector<std::unique_ptr<threading::local<Counted>>> locals;
  for (int i = 0; i < 16; ++i) locals.push_back(std::make_unique<threading::local<Counted>>(i));
  others = &locals;
  threading::local<Toucher> toucher;
  for (int round = 0; round < 20; ++round) {
    threading::Thread t([&] {
      toucher.get();
      for (auto& o : locals) (*o)->value *= 2;
    });
    t.start();
    t.join();
  }
  // Every value made was destroyed once, and nothing is left over.
  EXPECT_EQ(Counted::constructed.load(), Counted::destroyed.load());
  EXPECT_GE(Counted::constructed.load(), 20 * 16);
  others = nullptr;
}

TEST_F(Local, ValuesOfStdThreadsAreDestroyedWhenTheyExit) {
  threading::local<Counted> c(1);
  std::thread t([&] { c->value = 2; });
  t.join();
  EXPECT_EQ(Counted::constructed.load(), 1);
  EXPECT_TRUE(eventually([] { return Counted::destroyed.load() == 1; }, kPrompt * 1s));
}

// Sets a flag when the thread that first used it exits. Touched before any local<T>, it
// is destroyed after the thread's local<T> cleanup (thread_locals die in reverse order).
struct ExitFlag {
  std::atomic<bool>* flag = nullptr;
  ~ExitFlag() {
    if (flag) flag->store(true);
  }
};
thread_local ExitFlag exit_flag;

TEST_F(Local, DestroyingTheLocalDestroysEveryThreadsValue) {
  auto c = std::make_unique<threading::local<Counted>>(9);
  threading::Event touched, go;
  std::atomic<bool> exited{false};
  threading::Thread t([&] {
    exit_flag.flag = &exited;
    (*c)->value = 10;
    touched.set();
    go.wait();  // alive while the local is destroyed
  });
  t.start();
  ASSERT_TRUE(touched.wait(kPrompt * 1s));
  EXPECT_EQ((*c)->value, 9);  // main's value
  EXPECT_EQ(Counted::constructed.load(), 2);
  c.reset();
  EXPECT_EQ(Counted::destroyed.load(), 2);  // both, in this thread, at once
  go.set();
  t.join();
  // The thread's exit does not destroy its (already destroyed) value again.
  ASSERT_TRUE(eventually([&] { return exited.load(); }, kPrompt * 1s));
  EXPECT_EQ(Counted::destroyed.load(), 2);
}

TEST_F(Local, ThreadExitAfterLocalDestroyedInAnotherThread) {
  // A local destroyed by a worker while main still holds a value in it.
  auto c = std::make_unique<threading::local<Counted>>();
  (*c)->value = 1;
  threading::Thread destroyer([&] { c.reset(); });
  destroyer.start();
  destroyer.join();
  EXPECT_EQ(Counted::constructed.load(), 1);
  EXPECT_EQ(Counted::destroyed.load(), 1);
}

TEST_F(Local, ManyLocalsInOneThread) {
  constexpr int kLocals = 200;
  std::vector<std::unique_ptr<threading::local<int>>> locals;
  for (int i = 0; i < kLocals; ++i) locals.push_back(std::make_unique<threading::local<int>>());
  for (int i = 0; i < kLocals; ++i) **locals[static_cast<std::size_t>(i)] = i * 3;
  for (int i = 0; i < kLocals; ++i) EXPECT_EQ(**locals[static_cast<std::size_t>(i)], i * 3);

  std::atomic<int> nonzero{0};
  threading::Thread t([&] {
    for (auto& l : locals) {
      if (**l != 0) ++nonzero;
      **l = -1;
    }
  });
  t.start();
  t.join();
  EXPECT_EQ(nonzero.load(), 0);
  for (int i = 0; i < kLocals; ++i) EXPECT_EQ(**locals[static_cast<std::size_t>(i)], i * 3);
}

TEST_F(Local, ANewLocalNeverSeesAStaleValue) {
  // On the stack: very likely the same address each time.
  for (int i = 0; i < 300; ++i) {
    threading::local<int> l;
    ASSERT_EQ(*l, 0) << "iteration " << i;
    *l = i + 1;
  }
  // On the heap, some alive at once, interleaved with frees.
  std::vector<std::unique_ptr<threading::local<int>>> keep;
  for (int i = 0; i < 300; ++i) {
    auto l = std::make_unique<threading::local<int>>();
    ASSERT_EQ(**l, 0) << "iteration " << i;
    **l = 1000 + i;
    if (i % 3 == 0) keep.push_back(std::move(l));
  }
  for (std::size_t i = 0; i < keep.size(); ++i) EXPECT_EQ(**keep[i], 1000 + static_cast<int>(3 * i));
}

TEST_F(Local, ReplacedLocalsDoNotLeakValues) {
  for (int i = 0; i < 100; ++i) {
    threading::local<Counted> c(i);
    EXPECT_EQ(c->value, i);
  }
  EXPECT_EQ(Counted::constructed.load(), 100);
  EXPECT_EQ(Counted::destroyed.load(), 100);
}

struct Holder {
  threading::local<int> per_thread;
  int shared = 0;
};

TEST_F(Local, CanBeAMember) {
  Holder h;
  *h.per_thread = 1;
  int seen = -1;
  threading::Thread t([&] {
    seen = *h.per_thread;
    *h.per_thread = 2;
  });
  t.start();
  t.join();
  EXPECT_EQ(seen, 0);
  EXPECT_EQ(*h.per_thread, 1);
}

struct ThrowsOnce {
  static std::atomic<int> attempts;
  ThrowsOnce() {
    if (attempts++ == 0) throw std::runtime_error("first construction fails");
  }
  int value = 5;
};
std::atomic<int> ThrowsOnce::attempts{0};

TEST_F(Local, AFailedConstructionIsRetriedOnTheNextAccess) {
  ThrowsOnce::attempts = 0;
  threading::local<ThrowsOnce> l;
  EXPECT_THROW(l.get(), std::runtime_error);
  EXPECT_EQ(l->value, 5);
  EXPECT_EQ(ThrowsOnce::attempts.load(), 2);
}

}  // namespace
