// Built against an installed pyconc: proves find_package(pyconc) and pyconc::pyconc work.
#include <pyconc/threading.hpp>

#include <cstdio>
#include <vector>

namespace threading = pyconc::threading;

int main() {
  threading::Lock lock;
  int counter = 0;
  std::vector<threading::Thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 1000; ++k) {
        std::scoped_lock with(lock);
        ++counter;
      }
    });
  for (auto& t : threads) t.start();
  for (auto& t : threads) t.join();
  std::printf("consumer counter=%d\n", counter);
  return counter == 4000 ? 0 : 1;
}
