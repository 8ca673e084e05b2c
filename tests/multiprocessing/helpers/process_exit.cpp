// A program whose main() ends (or is killed) while its child processes run: test_process_exit
// runs it to check what happens to them. Prints the child's pid on stdout, then:
//   daemon <file>     a daemonic child that would run for a minute; main returns
//   nondaemon <file>  a child that writes <file> after 300 ms; main returns
//   orphan <file>     a child that would run for a minute; main waits to be killed
//   nofreeze <file>   (this program calls freeze_support only with "freeze" as argv[3])
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/process.hpp"

namespace mp = pyconc::multiprocessing;
using namespace std::chrono_literals;

namespace {

void sleep_long() {
  for (int i = 0; i < 600; ++i) std::this_thread::sleep_for(100ms);
}

void write_later(std::string path) {
  std::this_thread::sleep_for(300ms);
  std::ofstream(path) << "written";
}

void print_pid(mp::Process& p) {
  std::printf("%d\n", *p.pid());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && std::strcmp(argv[3], "freeze") == 0) mp::freeze_support(argc, argv);
  if (argc < 3) return 2;
  std::string mode = argv[1];
  std::string file = argv[2];
  if (argc >= 5) mp::set_start_method(std::string(argv[4]));
  if (mode == "daemon") {
    mp::Process p({.daemon = true}, sleep_long);
    p.start();
    print_pid(p);
    return 0;
  }
  if (mode == "nondaemon") {
    mp::Process p(write_later, file);
    p.start();
    print_pid(p);
    return 0;
  }
  if (mode == "orphan") {
    mp::Process p(sleep_long);
    p.start();
    print_pid(p);
    for (;;) ::pause();
  }
  if (mode == "nofreeze") {
    mp::Process p(write_later, file);
    try {
      p.start();
    } catch (const mp::ProcessError& e) {
      std::printf("ProcessError: %s\n", e.what());
      return 0;
    }
    p.join();
    std::printf("started\n");
    return 1;
  }
  return 2;
}
