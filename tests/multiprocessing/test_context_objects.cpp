#include <gtest/gtest.h>
#include "mp_support.hpp"
#include "pyconc/multiprocessing.hpp"
namespace multiprocessing = pyconc::multiprocessing;
namespace {
void square_into(multiprocessing::Queue<int> q, int x) { q.put(x * x); }
void ring(multiprocessing::Event e, multiprocessing::Value<int> v) {
  { std::scoped_lock with(v.get_lock()); v.set_value(v.value() + 1); }
  e.set();
}
class ContextObjects : public ::testing::TestWithParam<std::string> {};
TEST_P(ContextObjects, FactoriesMakeObjectsThatWorkAcrossTheContextsProcesses) {
  auto ctx = multiprocessing::get_context(GetParam());
  auto q = ctx.Queue<int>(4);
  auto p = ctx.Process(square_into, q, 7);
  p.start();
  EXPECT_EQ(q.get(), 49);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  auto e = ctx.Event();
  auto v = ctx.Value<int>(41);
  auto p2 = ctx.Process(ring, e, v);
  p2.start();
  EXPECT_TRUE(e.wait(std::chrono::duration<double>(pyconc_test::kPrompt)));
  p2.join();
  EXPECT_EQ(v.value(), 42);
  auto [a, b] = ctx.Pipe();
  a.send(std::string("hi"));
  EXPECT_EQ(b.recv<std::string>(), "hi");
  auto lock = ctx.Lock();
  EXPECT_TRUE(lock.acquire());
  lock.release();
  auto arr = ctx.Array<double>({1.0, 2.0});
  EXPECT_EQ(arr.size(), 2u);
}
INSTANTIATE_TEST_SUITE_P(Methods, ContextObjects, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);
}  // namespace
