// mp_hello — a child process says hello (the first example of Python's multiprocessing docs).
//
// Shows: freeze_support(argc, argv) as the first line of main, Process(target, args...),
// start(), join(), exitcode(), pid(), current_process(), parent_process().
//
// The Python original:
//
//     import os
//     from multiprocessing import Process, current_process, parent_process
//
//     def f(name):
//         print("hello", name, "from", current_process().name,
//               "pid", os.getpid(), "parent", parent_process().pid)
//
//     if __name__ == "__main__":
//         p = Process(target=f, args=("bob",))
//         p.start()
//         p.join()
//         print(current_process().name, "started", p.name, "exit code", p.exitcode)
#include <pyconc/multiprocessing/context.hpp>
#include <pyconc/multiprocessing/process.hpp>

#include <unistd.h>

#include <cstdio>
#include <string>

namespace multiprocessing = pyconc::multiprocessing;

void f(std::string name) {
  std::printf("hello %s from %s pid %d parent %d\n", name.c_str(),
              multiprocessing::current_process().name().c_str(), static_cast<int>(getpid()),
              *multiprocessing::parent_process()->pid());
}

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);  // if __name__ == "__main__":
  multiprocessing::Process p(f, std::string("bob"));
  p.start();
  p.join();
  std::printf("%s started %s exit code %d\n", multiprocessing::current_process().name().c_str(),
              p.name().c_str(), *p.exitcode());
}
