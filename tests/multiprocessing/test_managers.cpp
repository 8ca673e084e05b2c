// multiprocessing.managers: Manager(), SyncManager's proxies, BaseManager.create<T>.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/managers.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/multiprocessing/queues.hpp"

namespace mp = pyconc::multiprocessing;
namespace managers = pyconc::multiprocessing::managers;
using namespace std::chrono_literals;

namespace {

// A class the manager holds (Python's custom manager example).
struct Maths {
  int base = 0;
  Maths() = default;
  explicit Maths(int b) : base(b) {}
  int add(int a, int b) const { return base + a + b; }
  double mul(double a, double b) const { return a * b; }
  void bump() { ++base; }
  int get() const { return base; }
  void fail(std::string why) { throw pyconc::ValueError(why); }
};

// Python's docs example: the child fills the dict and reverses the list.
void docs_example(managers::DictProxy<std::string, double> d, managers::ListProxy<int> l) {
  d["1"] = 1;
  d["2"] = 2;
  d["0.25"] = 0.25;
  l.reverse();
}

void add_to_counter(managers::ValueProxy<long> counter, mp::Lock lock, int times) {
  for (int i = 0; i < times; ++i) {
    std::scoped_lock guard(lock);
    counter.set(counter.get() + 1);
  }
}

void bump_maths(managers::Proxy<Maths> m, int times) {
  for (int i = 0; i < times; ++i) m.call<&Maths::bump>();
}

void namespace_child(managers::NamespaceProxy ns) {
  ns.setattr("x", ns.getattr<int>("x") * 10);
  ns.setattr("name", std::string("from child"));
}

// Receives a proxy through a queue (no authkey travels: the child's own is used).
void proxy_through_queue(mp::Queue<managers::ListProxy<int>> q) {
  auto l = q.get();
  l.append(99);
}

// What the server's initializer sets, in the server process.
int g_initialized = 0;
void initialize_server() { g_initialized = 42; }
struct ReadsInitialized {
  int value = g_initialized;
  int get() const { return value; }
};

void sleep_forever(managers::DictProxy<int, int> d) {
  d[1] = 1;
  for (;;) ::pause();
}

}  // namespace

class Managers : public ::testing::TestWithParam<std::string> {
 protected:
  managers::SyncManager start() { return mp::get_context(GetParam()).Manager(); }
};

TEST_P(Managers, PythonDocsExample) {
  auto manager = start();
  auto d = manager.dict<std::string, double>();
  auto l = manager.list<int>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto ctx = mp::get_context(GetParam());
  auto p = ctx.Process(&docs_example, d, l);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  auto items = d.items();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].first, "1");
  EXPECT_EQ(items[2].second, 0.25);
  EXPECT_EQ(l.copy(), (std::vector<int>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
}

TEST_P(Managers, CounterUnderALockFromTwoProcesses) {
  auto manager = start();
  auto counter = manager.Value<long>(0);
  auto lock = manager.Lock();
  auto ctx = mp::get_context(GetParam());
  auto a = ctx.Process(&add_to_counter, counter, lock, 200);
  auto b = ctx.Process(&add_to_counter, counter, lock, 200);
  a.start();
  b.start();
  a.join();
  b.join();
  EXPECT_EQ(counter.value(), 400);
}

TEST_P(Managers, CustomClassThroughCreate) {
  auto manager = start();
  auto m = manager.create<Maths>(10);
  EXPECT_EQ(m.call<&Maths::add>(4, 3), 17);
  EXPECT_EQ(m.call<&Maths::mul>(7, 5), 35.0);
  auto ctx = mp::get_context(GetParam());
  auto p = ctx.Process(&bump_maths, m, 50);
  auto q = ctx.Process(&bump_maths, m, 50);
  p.start();
  q.start();
  p.join();
  q.join();
  EXPECT_EQ(m.call<&Maths::get>(), 110);  // calls on one object run one at a time
  // An exception in the method comes back with its type.
  EXPECT_THROW(m.call<&Maths::fail>(std::string("no")), pyconc::ValueError);
  try {
    m.call<&Maths::fail>(std::string("why not"));
  } catch (const pyconc::ValueError& e) {
    EXPECT_STREQ(e.what(), "why not");
  }
}

TEST_P(Managers, NamespaceAcrossProcesses) {
  auto manager = start();
  auto ns = manager.Namespace();
  ns.setattr("x", 4);
  auto ctx = mp::get_context(GetParam());
  auto p = ctx.Process(&namespace_child, ns);
  p.start();
  p.join();
  EXPECT_EQ(ns.getattr<int>("x"), 40);
  EXPECT_EQ(ns.getattr<std::string>("name"), "from child");
  EXPECT_EQ(ns.names(), (std::vector<std::string>{"x", "name"}));
}

TEST_P(Managers, ProxyThroughAQueue) {
  auto manager = start();
  auto l = manager.list<int>({1});
  mp::Queue<managers::ListProxy<int>> q;
  auto ctx = mp::get_context(GetParam());
  auto p = ctx.Process(&proxy_through_queue, q);
  p.start();
  q.put(l);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(l.copy(), (std::vector<int>{1, 99}));
}

TEST_P(Managers, AKilledChildGivesBackItsReferences) {
  auto manager = start();
  auto ctx = mp::get_context(GetParam());
  std::uint64_t id = 0;
  {
    auto d = manager.dict<int, int>();
    id = d.token().id;
    auto p = ctx.Process(&sleep_forever, d);
    p.start();
    ASSERT_TRUE(pyconc_test::eventually([&] { return d.contains(1); }));
    d = {};  // the parent's reference goes; the child's keeps the dict
    EXPECT_EQ(manager.number_of_objects(), 1u);
    p.kill();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGKILL);
  }
  // The server notices the dead child's connections and drops what it held.
  EXPECT_TRUE(pyconc_test::eventually([&] { return manager.number_of_objects() == 0; }));
  (void)id;
}

INSTANTIATE_TEST_SUITE_P(Methods, Managers, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);

// ---- the proxies' semantics (one start method is enough) ----

class ManagerProxies : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { manager_ = new managers::SyncManager(mp::Manager()); }
  static void TearDownTestSuite() {
    delete manager_;
    manager_ = nullptr;
  }
  static managers::SyncManager* manager_;
};
managers::SyncManager* ManagerProxies::manager_ = nullptr;

TEST_F(ManagerProxies, Dict) {
  auto d = manager_->dict<std::string, int>({{"a", 1}, {"b", 2}});
  EXPECT_EQ(d.len(), 2u);
  EXPECT_EQ(static_cast<int>(d["a"]), 1);
  EXPECT_THROW(d.getitem("zz"), pyconc::KeyError);
  try {
    d.getitem("zz");
  } catch (const pyconc::KeyError& e) {
    EXPECT_STREQ(e.what(), "'zz'");
  }
  d["c"] = 3;
  d["a"] = 10;  // keeps its place
  EXPECT_EQ(d.keys(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(d.values(), (std::vector<int>{10, 2, 3}));
  EXPECT_TRUE(d.contains("b"));
  EXPECT_FALSE(d.contains("x"));
  EXPECT_EQ(d.get("x"), std::nullopt);
  EXPECT_EQ(d.get("b"), 2);
  EXPECT_EQ(d.get("x", -1), -1);
  EXPECT_EQ(d.setdefault("d", 4), 4);
  EXPECT_EQ(d.setdefault("d", 5), 4);
  EXPECT_EQ(d.pop("b"), 2);
  EXPECT_THROW(d.pop("b"), pyconc::KeyError);
  EXPECT_EQ(d.pop("b", 7), 7);
  auto last = d.popitem();
  EXPECT_EQ(last.first, "d");
  d.delitem("c");
  EXPECT_THROW(d.delitem("c"), pyconc::KeyError);
  d.update({{"y", 25}, {"a", 11}});
  EXPECT_EQ(d.items(), (std::vector<std::pair<std::string, int>>{{"a", 11}, {"y", 25}}));
  d["y"] = d["a"];  // assigns the value
  EXPECT_EQ(d.get("y"), 11);
  d.clear();
  EXPECT_EQ(d.len(), 0u);
  EXPECT_THROW(d.popitem(), pyconc::KeyError);
}

TEST_F(ManagerProxies, List) {
  auto l = manager_->list<int>({3, 1, 2});
  EXPECT_EQ(l.len(), 3u);
  EXPECT_EQ(static_cast<int>(l[0]), 3);
  EXPECT_EQ(static_cast<int>(l[-1]), 2);
  EXPECT_THROW(l.getitem(3), pyconc::IndexError);
  EXPECT_THROW(l.getitem(-4), pyconc::IndexError);
  l[1] = 10;
  EXPECT_THROW(l.setitem(5, 0), pyconc::IndexError);
  l.append(4);
  l.extend({5, 6});
  l.insert(0, 0);
  l.insert(-1, 55);   // before the last, as Python
  l.insert(100, 7);   // clamped to the end
  EXPECT_EQ(l.copy(), (std::vector<int>{0, 3, 10, 2, 4, 5, 55, 6, 7}));
  EXPECT_EQ(l.slice(1, 3), (std::vector<int>{3, 10}));
  EXPECT_EQ(l.slice(-2, 100), (std::vector<int>{6, 7}));
  EXPECT_EQ(l.pop(), 7);
  EXPECT_EQ(l.pop(0), 0);
  EXPECT_EQ(l.index(10), 1u);
  EXPECT_THROW(l.index(1000), pyconc::ValueError);
  EXPECT_EQ(l.count(5), 1u);
  EXPECT_TRUE(l.contains(55));
  l.remove(55);
  EXPECT_THROW(l.remove(55), pyconc::ValueError);
  l.sort();
  EXPECT_EQ(l.copy(), (std::vector<int>{2, 3, 4, 5, 6, 10}));
  l.sort(true);
  EXPECT_EQ(l.copy(), (std::vector<int>{10, 6, 5, 4, 3, 2}));
  l.delitem(-1);
  EXPECT_EQ(l.len(), 5u);
  l.clear();
  EXPECT_THROW(l.pop(), pyconc::IndexError);
}

TEST_F(ManagerProxies, ArrayHasAFixedLength) {
  auto a = manager_->Array<double>({1.5, 2.5});
  EXPECT_EQ(a.len(), 2u);
  a[0] = 4.0;
  EXPECT_EQ(a.copy(), (std::vector<double>{4.0, 2.5}));
  EXPECT_THROW(a.setitem(2, 0), pyconc::IndexError);
}

TEST_F(ManagerProxies, NamespaceErrors) {
  auto ns = manager_->Namespace();
  EXPECT_FALSE(ns.hasattr("x"));
  EXPECT_THROW(ns.getattr<int>("x"), pyconc::AttributeError);
  ns.setattr("x", std::vector<int>{1, 2});
  EXPECT_TRUE(ns.hasattr("x"));
  EXPECT_EQ(ns.getattr<std::vector<int>>("x"), (std::vector<int>{1, 2}));
  ns.delattr("x");
  EXPECT_THROW(ns.delattr("x"), pyconc::AttributeError);
}

TEST_F(ManagerProxies, ObjectsLiveWhileAProxyDoes) {
  std::size_t before = manager_->number_of_objects();
  {
    auto d = manager_->dict<int, int>();
    auto copy = d;
    EXPECT_EQ(manager_->number_of_objects(), before + 1);
    d = {};
    EXPECT_EQ(manager_->number_of_objects(), before + 1);  // `copy` holds it
    // A proxy rebuilt from its pickle (as in another process) shares the reference.
    auto again = pyconc::pickle::loads<managers::DictProxy<int, int>>(pyconc::pickle::dumps(copy));
    copy = {};
    again[1] = 2;
    EXPECT_EQ(manager_->number_of_objects(), before + 1);
  }
  EXPECT_EQ(manager_->number_of_objects(), before);
}

TEST_F(ManagerProxies, ManyThreadsAtOnce) {
  auto l = manager_->list<int>();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([l, t] {
      for (int i = 0; i < 100; ++i) l.append(t);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(l.len(), 400u);
  EXPECT_EQ(l.count(3), 100u);
}

TEST_F(ManagerProxies, AnEmptyProxyRaises) {
  managers::DictProxy<int, int> d;
  EXPECT_THROW(d.len(), pyconc::ValueError);
}

// ---- lifetime of the manager ----

TEST(ManagerLifetime, ShutdownEndsTheServerAndProxiesRaise) {
  auto manager = mp::Manager();
  auto d = manager.dict<int, int>();
  d[1] = 1;
  const mp::Process* server = manager.process();
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(server->is_alive());
  manager.shutdown();
  EXPECT_FALSE(server->is_alive());
  EXPECT_EQ(server->exitcode(), 0);
  EXPECT_ANY_THROW(d.len());
  manager.shutdown();  // idempotent
  EXPECT_THROW((manager.dict<int, int>()), mp::ProcessError);
}

TEST(ManagerLifetime, AKilledServerMakesProxiesRaiseNotHang) {
  auto manager = mp::Manager();
  auto l = manager.list<int>();
  l.append(1);
  ::kill(*manager.process()->pid(), SIGKILL);
  EXPECT_ANY_THROW({
    for (int i = 0; i < 1000; ++i) l.append(i);
  });
}

TEST(ManagerLifetime, ConnectToARunningManager) {
  std::vector<std::byte> key(16, std::byte{7});
  auto manager = mp::Manager({.authkey = key});
  auto d = manager.dict<int, int>();
  d[5] = 50;
  managers::SyncManager other({.address = manager.address(), .authkey = key});
  other.connect();
  auto l = other.list<int>({1, 2});
  EXPECT_EQ(l.len(), 2u);
  EXPECT_EQ(other.number_of_objects(), manager.number_of_objects());

  managers::SyncManager intruder({.address = manager.address(), .authkey = std::vector<std::byte>(16, std::byte{8})});
  EXPECT_THROW(intruder.connect(), mp::AuthenticationError);
  managers::SyncManager nowhere({.address = std::string(1, '\0') + "pyconc-no-manager"});
  EXPECT_THROW(nowhere.connect(), pyconc::OSError);
}

TEST(ManagerLifetime, DefaultKeyIsTheProcessAuthkey) {
  auto manager = mp::Manager();
  managers::SyncManager other({.address = manager.address()});
  other.connect();  // authenticates with current_process().authkey()
  managers::SyncManager wrong({.address = manager.address(), .authkey = std::vector<std::byte>(32)});
  EXPECT_THROW(wrong.connect(), mp::AuthenticationError);
}

TEST(ManagerLifetime, MisuseRaises) {
  managers::SyncManager m;
  EXPECT_THROW((m.dict<int, int>()), mp::ProcessError);  // neither started nor connected
  EXPECT_THROW(m.connect(), pyconc::ValueError);       // no address
  m.start();
  EXPECT_THROW(m.start(), mp::ProcessError);
  EXPECT_THROW(m.connect(), mp::ProcessError);
}

TEST(ManagerLifetime, ServerInThisProcess) {
  std::vector<std::byte> key(8, std::byte{3});
  managers::BaseManager m({.authkey = key});
  auto server = m.get_server();
  std::thread serving([&] { server.serve_forever(); });
  managers::BaseManager client({.address = server.address(), .authkey = key});
  client.connect();
  auto maths = client.create<Maths>(1);
  EXPECT_EQ(maths.call<&Maths::add>(1, 1), 3);
  server.stop();
  serving.join();
}

TEST_F(ManagerProxies, AProxyInsideAManagedObject) {
  // Python: d['l'] = manager.list(); d['l'].append(2) changes the shared list.
  auto d = manager_->dict<std::string, managers::ListProxy<int>>();
  d["l"] = manager_->list<int>({1});
  managers::ListProxy<int> l = d["l"];
  l.append(2);
  managers::ListProxy<int> again = d["l"];
  EXPECT_EQ(again.copy(), (std::vector<int>{1, 2}));
  EXPECT_EQ(again, l);  // the same object
}

TEST(ManagerLifetime, InitializerRunsInTheServer) {
  managers::BaseManager m;
  m.start(&initialize_server);
  auto r = m.create<ReadsInitialized>();
  EXPECT_EQ(r.call<&ReadsInitialized::get>(), 42);
  EXPECT_EQ(g_initialized, 0);  // not in this process
}

TEST(ManagerLifetime, JoinWaitsForTheServer) {
  auto manager = mp::Manager();
  EXPECT_FALSE(manager.join(0.05s));  // the server runs
  manager.shutdown();
  EXPECT_TRUE(manager.join(0s));
  manager.join();
}

TEST_F(ManagerProxies, ValueAccessors) {
  auto v = manager_->Value<std::string>("a");
  EXPECT_EQ(v.value(), "a");
  v.set_value("b");
  EXPECT_EQ(v.get(), "b");
  v.set("c");
  EXPECT_EQ(v.value(), "c");
}
