// A small process family for test_resource_tracker: it creates /dev/shm segments, prints
// what it made, and ends the way argv[1] says. The test then checks what the family's
// resource tracker does once the family is gone.
//
//   crash        pyconc segment + user SharedMemory, then SIGKILL itself
//   child-crash  a fork child creates both and SIGKILLs itself; then the parent exits
//   unlink       a user SharedMemory unlinked properly, a pyconc segment dropped; exit 0
//   dead-tracker SIGKILL the tracker, then create and unlink: nobody dies of it
//   pipe-eof     the tracker keeps no copy of the program's fds
//   threads      the tracker is started while four threads allocate; exit 0
//   process-crash the same with a multiprocessing::Process child
//   untracked    a user SharedMemory with track=false; exit 0 (the test unlinks it)
//
// Output, one line: "<tracker pid> <name>..." then the end.
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/resource_tracker.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/multiprocessing/shared_memory.hpp"

namespace detail = pyconc::multiprocessing::detail;
namespace shared_memory = pyconc::multiprocessing::shared_memory;

namespace {

void say(const std::string& line) {
  std::string text = line + "\n";
  (void)!::write(1, text.data(), text.size());
}

[[noreturn]] void die() {
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string mode = argv[1];
  if (mode == "crash") {
    auto segment = detail::SharedSegment::create(4096);
    shared_memory::SharedMemory shm({.create = true, .size = 100});
    say(std::to_string(detail::resource_tracker_pid()) + " " + segment->name() + " " + shm.name());
    die();
  }
  if (mode == "child-crash") {
    detail::ensure_resource_tracker();
    int fds[2];
    if (::pipe(fds) != 0) return 3;
    pid_t pid = ::fork();
    if (pid == 0) {
      auto segment = detail::SharedSegment::create(4096);
      shared_memory::SharedMemory shm({.create = true, .size = 100});
      std::string names = segment->name() + " " + shm.name();
      (void)!::write(fds[1], names.data(), names.size());
      die();
    }
    ::close(fds[1]);
    char buf[600] = {};
    ssize_t n = ::read(fds[0], buf, sizeof buf - 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (n <= 0 || !WIFSIGNALED(status)) return 4;
    // The child is dead, the family is not: its segments must still be there.
    std::string names(buf, static_cast<std::size_t>(n));
    std::string first = names.substr(0, names.find(' '));
    if (::access(("/dev/shm/" + first).c_str(), F_OK) != 0) return 5;
    say(std::to_string(detail::resource_tracker_pid()) + " " + names);
    return 0;
  }
  if (mode == "unlink") {
    shared_memory::SharedMemory shm({.create = true, .size = 100});
    std::string name = shm.name();
    { auto segment = detail::SharedSegment::create(4096); }
    shm.close();
    shm.unlink();
    say(std::to_string(detail::resource_tracker_pid()) + " " + name);
    return 0;
  }
  if (mode == "untracked") {
    shared_memory::SharedMemory shm({.create = true, .size = 100, .track = false});
    auto segment = detail::SharedSegment::create(4096);  // starts the tracker
    say(std::to_string(detail::resource_tracker_pid()) + " " + shm.name());
    die();
  }
  if (mode == "process-crash") {
    // A multiprocessing::Process child creates segments, writes their names into a
    // SharedMemory it got as its argument, and is SIGKILLed.
    pyconc::multiprocessing::freeze_support(argc, argv);
    detail::ensure_resource_tracker();
    shared_memory::SharedMemory mailbox({.create = true, .size = 1024});
    pyconc::multiprocessing::Process child(
        [](shared_memory::SharedMemory box) {
          auto segment = detail::SharedSegment::create(4096);
          shared_memory::SharedMemory shm({.create = true, .size = 100});
          std::string names = segment->name() + " " + shm.name();
          std::memcpy(box.buf().data(), names.c_str(), names.size() + 1);
          ::kill(::getpid(), SIGKILL);
        },
        mailbox);
    child.start();
    child.join();
    if (child.exitcode() != -SIGKILL) return 4;
    std::string names(reinterpret_cast<const char*>(mailbox.buf().data()));
    if (names.empty() || ::access(("/dev/shm/" + names.substr(0, names.find(' '))).c_str(), F_OK) != 0) return 5;
    mailbox.unlink();
    say(std::to_string(detail::resource_tracker_pid()) + " " + names);
    return 0;
  }
  if (mode == "threads") {
    // The tracker is forked while other threads allocate (malloc's locks held at random).
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&stop] {
        while (!stop.load()) {
          std::vector<std::string> junk(64, std::string(100, 'x'));
          (void)junk;
        }
      });
    shared_memory::SharedMemory shm({.create = true, .size = 100});
    say(std::to_string(detail::resource_tracker_pid()) + " " + shm.name());
    stop.store(true);
    for (auto& t : threads) t.join();
    return 0;
  }
  if (mode == "pipe-eof") {
    int fds[2];
    if (::pipe(fds) != 0) return 3;
    if (detail::ensure_resource_tracker() < 0) return 4;
    ::close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return 6;
    char c;
    return ::read(fds[0], &c, 1) == 0 ? 0 : 7;
  }
  if (mode == "dead-tracker") {
    detail::ensure_resource_tracker();
    int tracker = detail::resource_tracker_pid();
    if (tracker <= 0 || ::kill(tracker, SIGKILL) != 0) return 3;
    while (detail::process_alive(tracker)) ::sched_yield();
    for (int i = 0; i < 3; ++i) {
      auto segment = detail::SharedSegment::create(4096);
      shared_memory::SharedMemory shm({.create = true, .size = 100});
      shm.unlink();
    }
    say(std::to_string(tracker));
    return 0;
  }
  return 2;
}
