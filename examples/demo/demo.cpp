// pyconc_demo — `make demo`: the ported Python programs, then what the GIL never allowed.
//
//   1. runs each program of examples/seeds/ (built next to this executable as
//      seed_<name>) in a child process and shows its output under a header naming the
//      Python program it ports;
//   2. counts the primes below 5,000,000 by trial division, in one thread and on two
//      threading::Threads (best of 3 rounds each), and prints the speedup — in CPython
//      the GIL lets one thread run Python code at a time: two threads gain nothing;
//   3. says where to read on.
//
// Exits with 1 if a program fails or the two prime counts disagree.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pyconc/threading.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace threading = pyconc::threading;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// ---- 1. the seed programs ------------------------------------------------------------

struct Seed {
  std::string name;    // examples/seeds/<name>.cpp, built as seed_<name>
  std::string python;  // what the Python original does
};

const std::vector<Seed> kSeeds = {
    {"hello_threads", "threads say hello: Thread(target=hello), current_thread().name"},
    {"lock_counter", "a shared counter: with lock: counter += 1"},
    {"downloads", "three downloads at once: time.sleep stands for the network"},
    {"five_workers", "five workers started in a loop, kept in a list, joined"},
};

constexpr auto kSeedTimeout = 20s;

struct RunResult {
  bool ok = false;
  std::string output;  // stdout and stderr, merged
  std::string status;  // "exit 0", "killed by Segmentation fault", ...
};

// Runs `path` with stdout and stderr into a pipe; kills it after kSeedTimeout.
RunResult run_program(const fs::path& path) {
  RunResult result;
  int fds[2];
  if (pipe(fds) != 0) {
    result.status = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::string program = path.string();
  char* argv[] = {program.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    result.status = std::string("cannot start: ") + std::strerror(rc);
    return result;
  }

  auto deadline = Clock::now() + kSeedTimeout;
  bool timed_out = false;
  char buffer[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;  // timeout: checked at the top
    ssize_t got = read(fds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the program closed its output (it exited)
    result.output.append(buffer, static_cast<std::size_t>(got));
  }
  close(fds[0]);

  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    result.status = "killed: still running after " + std::to_string(kSeedTimeout.count()) + " s";
  } else if (WIFEXITED(wstatus)) {
    result.status = "exit " + std::to_string(WEXITSTATUS(wstatus));
    result.ok = WEXITSTATUS(wstatus) == 0;
  } else if (WIFSIGNALED(wstatus)) {
    result.status = std::string("killed by signal: ") + strsignal(WTERMSIG(wstatus));
  }
  return result;
}

// Prints a program's output indented under its header.
void print_indented(const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::printf("    | %.*s\n", static_cast<int>(end - start), text.data() + start);
    start = end + 1;
  }
}

// Runs every seed; returns how many failed.
int run_seeds(const fs::path& dir) {
  std::vector<Seed> seeds = kSeeds;
  // Seeds added to examples/seeds/ since this table was written run too.
  std::set<std::string> known;
  for (const Seed& s : kSeeds) known.insert(s.name);
  std::set<std::string> extra;  // sorted
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string file = entry.path().filename().string();
    if (file.rfind("seed_", 0) == 0 && !known.count(file.substr(5))) extra.insert(file.substr(5));
  }
  for (const std::string& name : extra) seeds.push_back({name, "see its source for the Python original"});

  std::printf("== Python's threading tutorials, ported line by line ==\n");
  std::printf("   (each program's source holds its Python original: examples/seeds/<name>.cpp)\n");
  int failures = 0;
  int index = 0;
  for (const Seed& seed : seeds) {
    ++index;
    std::printf("\n[%d/%zu] seed_%s  <-  Python: %s\n", index, seeds.size(), seed.name.c_str(),
                seed.python.c_str());
    std::fflush(stdout);
    auto start = Clock::now();
    RunResult r = run_program(dir / ("seed_" + seed.name));
    pyconc::Seconds took = Clock::now() - start;
    print_indented(r.output);
    std::printf("    %s (%s, %.2f s)\n", r.ok ? "ok" : "FAILED", r.status.c_str(), took.count());
    if (!r.ok) ++failures;
  }
  return failures;
}

// ---- 2. what the GIL never allowed ---------------------------------------------------

// The same function as count_primes in bench/peers/python_workloads.py:
//
//     def count_primes(lo, hi):
//         count = 0
//         for k in range(max(lo, 2), hi):
//             i = 2
//             while i * i <= k:
//                 if k % i == 0:
//                     break
//                 i += 1
//             else:
//                 count += 1
//         return count
long count_primes(long lo, long hi) {
  long count = 0;
  for (long k = std::max(lo, 2L); k < hi; ++k) {
    long i = 2;
    bool divisible = false;
    while (i * i <= k) {
      if (k % i == 0) {
        divisible = true;
        break;
      }
      i += 1;
    }
    if (!divisible) count += 1;
  }
  return count;
}

constexpr const char* kPythonCountPrimes =
    "def count_primes(lo, hi):\n"
    "       count = 0\n"
    "       for k in range(max(lo, 2), hi):\n"
    "           i = 2\n"
    "           while i * i <= k:\n"
    "               if k % i == 0:\n"
    "                   break\n"
    "               i += 1\n"
    "           else:\n"
    "               count += 1\n"
    "       return count";

constexpr long kLimit = 5'000'000;
constexpr long kPrimesBelowLimit = 348'513;  // known: pi(5,000,000)
// Larger numbers take longer to test, so equal work is not equal length: [0, 3M) costs
// about what [3M, 5M) costs.
constexpr long kSplit = 3'000'000;

std::string with_commas(long n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

struct Run {
  long count;
  pyconc::Seconds time;
};

Run one_thread() {
  auto start = Clock::now();
  long count = count_primes(0, kLimit);
  return {count, Clock::now() - start};
}

Run two_threads() {
  // results = [0, 0]
  // def job(i, lo, hi): results[i] = count_primes(lo, hi)
  // threads = [Thread(target=job, args=(0, 0, SPLIT)), Thread(target=job, args=(1, SPLIT, LIMIT))]
  std::array<long, 2> results{};
  auto job = [&results](int i, long lo, long hi) { results[i] = count_primes(lo, hi); };
  auto start = Clock::now();
  threading::Thread low(job, 0, 0L, kSplit);
  threading::Thread high(job, 1, kSplit, kLimit);
  low.start();
  high.start();
  low.join();
  high.join();
  return {results[0] + results[1], Clock::now() - start};
}

constexpr int kRounds = 3;

// Returns false when the counts disagree.
bool primes_on_two_threads() {
  std::printf("\n== What the GIL never allowed: CPU-bound code on two threads ==\n");
  std::printf("   count the primes below %s by trial division: this Python function, ported\n\n",
              with_commas(kLimit).c_str());
  std::printf("   %s\n\n", kPythonCountPrimes);
  std::fflush(stdout);

  // Rounds alternate, and the best time of each counts: a moment when other programs
  // take the cores then spoils a round, not the comparison.
  bool agree = true;
  Run serial{0, pyconc::Seconds::max()}, parallel{0, pyconc::Seconds::max()};
  for (int round = 0; round < kRounds; ++round) {
    Run s = one_thread();
    Run p = two_threads();
    if (s.count != kPrimesBelowLimit || p.count != kPrimesBelowLimit) {
      std::printf("   FAILED: the counts disagree (1 thread: %ld, 2 threads: %ld, expected %ld)\n",
                  s.count, p.count, kPrimesBelowLimit);
      agree = false;
    }
    if (s.time < serial.time) serial = s;
    if (p.time < parallel.time) parallel = p;
  }
  std::printf("   best of %d rounds:\n", kRounds);
  std::printf("   1 thread:                %s primes in %.2f s\n", with_commas(serial.count).c_str(),
              serial.time.count());
  std::printf("   2 threading::Threads:    %s primes in %.2f s   ([0, %s) and [%s, %s): equal work)\n",
              with_commas(parallel.count).c_str(), parallel.time.count(), with_commas(kSplit).c_str(),
              with_commas(kSplit).c_str(), with_commas(kLimit).c_str());

  unsigned cores = std::thread::hardware_concurrency();
  double speedup = serial.time / parallel.time;
  std::printf("   speedup: %.2fx with 2 threads, on %u core%s (std::thread::hardware_concurrency())\n",
              speedup, cores, cores == 1 ? "" : "s");
  if (cores < 2)
    std::printf("   (one core: the threads take turns here; on two cores they run side by side)\n");
  else if (speedup < 1.5)
    std::printf("   (less than the ~2x two free cores give: other programs are busy on this machine)\n");
  std::printf("   In CPython the GIL makes the two threads take turns: about 1x, however many cores.\n");
  return agree;
}

// ---- 3. where to read on -------------------------------------------------------------

void read_on() {
  std::printf("\n== Read on ==\n");
  std::printf("   README.md                        what pyconc is; build, test, use it from CMake\n");
  std::printf("   docs/threading.md                the threading module: every Python call and its C++\n");
  std::printf("   docs/differences-from-python.md  every difference from Python, with its reason\n");
  std::printf("   examples/seeds/                  the programs above, with their Python originals\n");
  std::printf("   make test                        every test suite (g++, ThreadSanitizer, ASan+UBSan,\n");
  std::printf("                                    clang -Wthread-safety)\n");
  std::printf("   make bench                       pyconc against Python on the same workloads (new;\n");
  std::printf("                                    more workloads are coming with each module)\n");
}

fs::path own_directory() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

}  // namespace

int main() {
  std::printf("pyconc demo: Python's threading in C++20, same names and semantics, no GIL\n\n");
  int failures = run_seeds(own_directory());
  bool agree = primes_on_two_threads();
  read_on();

  if (failures > 0) std::printf("\npyconc_demo: %d program(s) FAILED\n", failures);
  if (!agree) std::printf("\npyconc_demo: the prime counts disagree\n");
  return failures == 0 && agree ? 0 : 1;
}
