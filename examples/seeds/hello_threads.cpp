// hello_threads — threads say hello, each under its own name.
//
// Shows: Thread(target, args...), the {.name = ...} option, start(), join(),
// current_thread().name(), active_count(). The three "Hi" lines come in any order, as
// in Python; the other lines always come in this order.
//
// The Python original:
//
//     import threading
//
//     def hello(greeting):
//         print(f"{greeting} from {threading.current_thread().name}")
//
//     hello("Hello")                                   # MainThread
//     t = threading.Thread(target=hello, args=("Hello",))
//     t.start()
//     t.join()                                         # Thread-1 (hello)
//     named = [threading.Thread(target=hello, args=("Hi",), name=f"worker-{i}")
//              for i in range(3)]
//     for t in named:
//         t.start()
//     for t in named:
//         t.join()
//     print(f"done; {threading.active_count()} thread left")
//
// C++ has no function names at run time, so the default name is "Thread-1", not
// "Thread-1 (hello)".
#include <pyconc/threading.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace threading = pyconc::threading;

void hello(const std::string& greeting) {
  std::printf("%s from %s\n", greeting.c_str(), threading::current_thread().name().c_str());
}

int main() {
  hello("Hello");
  threading::Thread t(hello, "Hello");
  t.start();
  t.join();
  std::vector<threading::Thread> named;
  for (int i = 0; i < 3; ++i)
    named.push_back(threading::Thread({.name = "worker-" + std::to_string(i)}, hello, "Hi"));
  for (auto& t : named) t.start();
  for (auto& t : named) t.join();
  std::printf("done; %zu thread left\n", threading::active_count());
}
