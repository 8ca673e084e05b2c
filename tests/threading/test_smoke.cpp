#include <gtest/gtest.h>
#include <pyconc/threading.hpp>
namespace threading = pyconc::threading;
TEST(Smoke, Basic) {
  threading::Lock l; l.acquire(); l.release();
  int x = 0;
  threading::Thread t([&] { x = 1; });
  t.start(); t.join();
  EXPECT_EQ(x, 1);
}
