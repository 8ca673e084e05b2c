// A program whose main() ends while threads still run; test_exit_behaviour.cpp runs it and
// checks what happens at exit. argv[1] chooses the scenario:
//
//   nondaemon         main returns while a non-daemon thread works: the program waits
//   daemon            main returns while a daemon thread blocks forever: exits at once
//   exit              exit(0) is called while a non-daemon thread works: the program waits
//   mixed             a blocked daemon thread and a working non-daemon thread
//   global            the worker uses a namespace-scope object after main returned
//   static            the worker uses a function-local static (made in main) after main
//                     returned
//   exit_from_thread  a worker calls exit(3) while another non-daemon thread works
//
// Every line is flushed at once, so the order of lines is the order of events.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <pyconc/threading.hpp>

namespace threading = pyconc::threading;
using namespace std::chrono_literals;

namespace {

void say(const char* line) {
  std::printf("%s\n", line);
  std::fflush(stdout);
}

// The simulated work of a worker thread.
void work() { std::this_thread::sleep_for(200ms); }

// A namespace-scope object that a worker uses after main() has returned.
struct Tracker {
  std::string text = "global alive";
  ~Tracker() {
    text = "destroyed";
    say("global destroyed");
  }
};
Tracker tracker;

// A function-local static, first used in main() before any thread starts.
struct StaticTracker {
  std::string text = "static alive";
  ~StaticTracker() {
    text = "destroyed";
    say("static destroyed");
  }
};
StaticTracker& static_tracker() {
  static StaticTracker instance;
  return instance;
}

// Starts a non-daemon worker and drops its handle (as `Thread(target=...).start()`).
void start_worker() {
  threading::Thread t({.name = "worker"}, [] {
    work();
    say("worker done");
  });
  t.start();
}

// Starts a daemon thread that blocks forever; it keeps its Event alive itself.
void start_blocked_daemon() {
  auto never = std::make_shared<threading::Event>();
  threading::Thread t({.name = "blocked", .daemon = true}, [never] { never->wait(); });
  t.start();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s nondaemon|daemon|exit|mixed|global|static|exit_from_thread\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  if (mode == "nondaemon") {
    start_worker();
    say("main returns");
    return 0;
  }
  if (mode == "daemon") {
    start_blocked_daemon();
    say("main returns");
    return 0;
  }
  if (mode == "exit") {
    start_worker();
    say("main calls exit");
    std::exit(0);
  }
  if (mode == "mixed") {
    start_blocked_daemon();
    start_worker();
    say("main returns");
    return 0;
  }
  if (mode == "global") {
    threading::Thread t([] {
      work();
      say(tracker.text.c_str());
      say("worker done");
    });
    t.start();
    say("main returns");
    return 0;
  }
  if (mode == "static") {
    static_tracker();
    threading::Thread t([] {
      work();
      say(static_tracker().text.c_str());
      say("worker done");
    });
    t.start();
    say("main returns");
    return 0;
  }
  if (mode == "exit_from_thread") {
    start_worker();
    threading::Thread exiter({.name = "exiter"}, [] {
      say("exiter calls exit");
      std::exit(3);
    });
    exiter.start();
    exiter.join();  // never returns: exit() ends the program first
    say("unreachable");
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
