// pyconc_demo — `make demo`: the ported Python programs, then what the GIL never allowed,
// measured next to Python in the same run.
//
//   1. runs each program of examples/seeds/ (built next to this executable as
//      seed_<name>) in a child process and shows its output under a header naming the
//      Python program it ports;
//   2. counts the primes below 5,000,000 by trial division, in one thread and on two
//      threading::Threads (best of 3 rounds each), and prints the speedup — in CPython
//      the GIL lets one thread run Python code at a time: two threads gain nothing;
//   3. "why pyconc": runs Python (Debian's /usr/bin/python3, else python3 on PATH) on the
//      same jobs, from the script kPythonJobs below, and prints its figures beside
//      pyconc's: the prime count (below 1,000,000: Python is slow) on 1 thread and on a
//      ThreadPoolExecutor(2), and 50 simulated downloads (20 ms sleeps) on a
//      ThreadPoolExecutor(10). Without a python3, Python's figures are skipped;
//   4. says where to read on: the full benchmarks (make bench) and the docs.
//
// Exits with 1 if a program fails or a count disagrees (pyconc's or Python's). Takes
// about 30 s on 2 cores.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pyconc/futures.hpp>
#include <pyconc/threading.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace futures = pyconc::futures;
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
    {"producer_consumer", "producer and consumer over queue.Queue(maxsize=5)"},
    {"fetch_urls", "ThreadPoolExecutor + as_completed fetching URLs (local server, libcurl)"},
    {"cpu_bound_pool", "CPU-bound work with ThreadPoolExecutor.map over chunks"},
    {"mp_hello", "hello from a multiprocessing.Process: Process(target=f, args=(\"bob\",))"},
    {"mp_squares", "squares computed in a child Process, sent back through a multiprocessing.Queue"},
    {"mp_factorials", "factorials in parallel Processes"},
    {"mp_manager", "a Manager's dict and list, changed by a child Process: manager.dict(), manager.list(range(10))"},
};

constexpr auto kSeedTimeout = 20s;

struct RunResult {
  bool ok = false;
  std::string output;  // stdout and stderr, merged
  std::string status;  // "exit 0", "killed by Segmentation fault", ...
};

// Runs args[0] (a path) with the arguments args[1...], its stdout and stderr into a
// pipe; kills it after `timeout`.
RunResult run_program(const std::vector<std::string>& args, std::chrono::seconds timeout) {
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
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (std::string& arg : owned) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, owned.at(0).c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    result.status = std::string("cannot start: ") + std::strerror(rc);
    return result;
  }

  auto deadline = Clock::now() + timeout;
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
    result.status = "killed: still running after " + std::to_string(timeout.count()) + " s";
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

  std::printf("== Python's classic concurrency programs, ported line by line ==\n");
  std::printf("   (each program's source holds its Python original: examples/seeds/<name>.cpp)\n");
  int failures = 0;
  int index = 0;
  for (const Seed& seed : seeds) {
    ++index;
    std::printf("\n[%d/%zu] seed_%s  <-  Python: %s\n", index, seeds.size(), seed.name.c_str(),
                seed.python.c_str());
    std::fflush(stdout);
    auto start = Clock::now();
    RunResult r = run_program({(dir / ("seed_" + seed.name)).string()}, kSeedTimeout);
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

Run one_thread(long limit) {
  auto start = Clock::now();
  long count = count_primes(0, limit);
  return {count, Clock::now() - start};
}

Run two_threads(long limit, long split) {
  // results = [0, 0]
  // def job(i, lo, hi): results[i] = count_primes(lo, hi)
  // threads = [Thread(target=job, args=(0, 0, SPLIT)), Thread(target=job, args=(1, SPLIT, LIMIT))]
  std::array<long, 2> results{};
  auto job = [&results](int i, long lo, long hi) { results[i] = count_primes(lo, hi); };
  auto start = Clock::now();
  threading::Thread low(job, 0, 0L, split);
  threading::Thread high(job, 1, split, limit);
  low.start();
  high.start();
  low.join();
  high.join();
  return {results[0] + results[1], Clock::now() - start};
}

constexpr int kRounds = 3;

// pyconc's best times, for the comparison with Python at the end.
struct CpuFigures {
  Run serial{0, pyconc::Seconds::max()};
  Run parallel{0, pyconc::Seconds::max()};
};

// Returns false when the counts disagree.
bool primes_on_two_threads(CpuFigures& best) {
  std::printf("\n== What the GIL never allowed: CPU-bound code on two threads ==\n");
  std::printf("   count the primes below %s by trial division: this Python function, ported\n\n",
              with_commas(kLimit).c_str());
  std::printf("   %s\n\n", kPythonCountPrimes);
  std::fflush(stdout);

  // Rounds alternate, and the best time of each counts: a moment when other programs
  // take the cores then spoils a round, not the comparison.
  bool agree = true;
  Run& serial = best.serial;
  Run& parallel = best.parallel;
  for (int round = 0; round < kRounds; ++round) {
    Run s = one_thread(kLimit);
    Run p = two_threads(kLimit, kSplit);
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
  std::printf("   In CPython the GIL makes the two threads take turns: Python's own figure follows.\n");
  return agree;
}

// ---- 3. why pyconc: the same jobs in Python, measured in this run --------------------

// Python is slow at this job: it counts below a smaller LIMIT, where its one thread takes
// a few seconds. The split is at 3/5 again: equal work on each thread.
constexpr long kPythonLimit = 1'000'000;
constexpr long kPythonSplit = 600'000;
constexpr long kPrimesBelowPythonLimit = 78'498;  // known: pi(1,000,000)

// The I/O-bound job: kDownloads downloads, each a sleep standing for the network.
constexpr int kDownloads = 50;
constexpr auto kDownloadTime = 20ms;
constexpr int kIoWorkers = 10;

// Python's side of both jobs, run as `python3 -c kPythonJobs cpu LIMIT SPLIT` (one
// round: Python is slow) or `python3 -c kPythonJobs io N WORKERS ROUNDS` (the best of
// ROUNDS). It prints one line: "result key=value ...".
constexpr const char* kPythonJobs = R"py(
import sys, time
from concurrent.futures import ThreadPoolExecutor

def count_primes(lo, hi):
    count = 0
    for k in range(max(lo, 2), hi):
        i = 2
        while i * i <= k:
            if k % i == 0:
                break
            i += 1
        else:
            count += 1
    return count

def download(i):
    time.sleep(0.020)          # the network at work
    return i

job, numbers = sys.argv[1], [int(arg) for arg in sys.argv[2:]]
if job == "cpu":
    limit, split = numbers
    start = time.perf_counter()
    serial = count_primes(0, limit)
    serial_time = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as ex:
        threaded = sum(ex.map(count_primes, (0, split), (split, limit)))
    threads_time = time.perf_counter() - start
    figures = dict(serial_count=serial, serial_time=serial_time,
                   threads_count=threaded, threads_time=threads_time)
else:
    n, workers, rounds = numbers
    times, in_order = [], True
    for _ in range(rounds):
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as ex:
            got = list(ex.map(download, range(n)))
        times.append(time.perf_counter() - start)
        in_order = in_order and got == list(range(n))
    figures = dict(pool_time=min(times), in_order=int(in_order))
figures["version"] = sys.version.split()[0]
print("result", *(f"{key}={value}" for key, value in figures.items()))
)py";

// Debian's python3 (the one `make bench` runs), else the first python3 on PATH; "" if none.
std::string find_python() {
  auto runnable = [](const std::string& file) {
    std::error_code ec;
    return fs::is_regular_file(file, ec) && access(file.c_str(), X_OK) == 0;
  };
  if (runnable("/usr/bin/python3")) return "/usr/bin/python3";
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "";
  std::size_t start = 0;
  while (!dirs.empty() && start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/python3";
    if (runnable(candidate)) return candidate;
    start = end + 1;
  }
  return "";
}

struct PythonFigures {
  bool ok = false;
  std::string problem;  // when !ok: why there are no figures
  std::string output;   // what Python printed, to show when it failed
  std::map<std::string, std::string> values;

  double number(const std::string& key) const { return std::strtod(values.at(key).c_str(), nullptr); }
};

// Runs one of kPythonJobs' jobs; ok when it printed every key of `expected`.
PythonFigures run_python(const std::string& python, const std::vector<std::string>& job,
                         const std::vector<std::string>& expected, std::chrono::seconds timeout) {
  std::vector<std::string> args = {python, "-c", kPythonJobs};
  args.insert(args.end(), job.begin(), job.end());
  RunResult r = run_program(args, timeout);
  PythonFigures figures;
  figures.output = r.output;
  if (!r.ok) {
    figures.problem = python + " failed (" + r.status + ")";
    return figures;
  }
  std::size_t line = r.output.rfind("result ");
  if (line == std::string::npos || (line > 0 && r.output[line - 1] != '\n')) {
    figures.problem = python + " printed no result line";
    return figures;
  }
  std::size_t end = r.output.find('\n', line);
  std::string fields = r.output.substr(line + 7, end == std::string::npos ? std::string::npos : end - line - 7);
  std::size_t start = 0;
  while (start < fields.size()) {
    std::size_t stop = fields.find(' ', start);
    if (stop == std::string::npos) stop = fields.size();
    std::string field = fields.substr(start, stop - start);
    std::size_t eq = field.find('=');
    if (eq != std::string::npos) figures.values[field.substr(0, eq)] = field.substr(eq + 1);
    start = stop + 1;
  }
  for (const std::string& key : expected) {
    if (!figures.values.count(key)) {
      figures.problem = python + " printed no " + key;
      return figures;
    }
  }
  figures.ok = true;
  return figures;
}

void print_skipped(const PythonFigures& figures) {
  std::printf("   Python's figures are skipped: %s\n", figures.problem.c_str());
  print_indented(figures.output);
}

int download(int i) {
  std::this_thread::sleep_for(kDownloadTime);  // the network at work
  return i;
}

struct IoRun {
  pyconc::Seconds time;
  bool in_order;  // every download's result, in input order
};

std::vector<int> download_ids() {
  std::vector<int> ids(kDownloads);
  std::iota(ids.begin(), ids.end(), 0);
  return ids;
}

IoRun downloads_one_after_another() {
  std::vector<int> ids = download_ids();
  auto start = Clock::now();
  std::vector<int> got;
  for (int i : ids) got.push_back(download(i));
  return {Clock::now() - start, got == ids};
}

IoRun downloads_on_a_pool() {
  // with ThreadPoolExecutor(10) as ex:
  //     got = list(ex.map(download, range(50)))
  std::vector<int> ids = download_ids();
  auto start = Clock::now();
  std::vector<int> got;
  {
    futures::ThreadPoolExecutor ex(kIoWorkers);
    got = ex.map(download, ids).to_vector();
  }
  return {Clock::now() - start, got == ids};
}

// Returns false when a count disagrees, pyconc's or Python's. Python missing or failing
// is not an error: its figures are skipped.
bool why_pyconc(const CpuFigures& pyconc_cpu) {
  std::printf("\n== Why pyconc: the same jobs in Python, measured in this run ==\n");
  std::string python = find_python();
  bool agree = true;

  // CPU-bound: Python's one round, then pyconc's best on Python's LIMIT.
  PythonFigures py_cpu;
  if (python.empty()) {
    py_cpu.problem = "no python3 (neither /usr/bin/python3 nor one on PATH)";
  } else {
    std::printf("   %s counts the primes below %s, on 1 thread then on 2 (takes a few seconds) ...\n",
                python.c_str(), with_commas(kPythonLimit).c_str());
    std::fflush(stdout);
    py_cpu = run_python(python, {"cpu", std::to_string(kPythonLimit), std::to_string(kPythonSplit)},
                        {"serial_count", "serial_time", "threads_count", "threads_time", "version"}, 45s);
  }
  if (py_cpu.ok) {
    long serial = std::atol(py_cpu.values.at("serial_count").c_str());
    long threaded = std::atol(py_cpu.values.at("threads_count").c_str());
    if (serial != kPrimesBelowPythonLimit || threaded != kPrimesBelowPythonLimit) {
      std::printf("   FAILED: Python's counts disagree (1 thread: %ld, 2 threads: %ld, expected %ld)\n", serial,
                  threaded, kPrimesBelowPythonLimit);
      agree = false;
    }
  }
  Run pyconc_small{0, pyconc::Seconds::max()};
  for (int round = 0; round < kRounds; ++round) {
    Run s = one_thread(kPythonLimit);
    if (s.count != kPrimesBelowPythonLimit) {
      std::printf("   FAILED: %ld primes below %s, expected %ld\n", s.count, with_commas(kPythonLimit).c_str(),
                  kPrimesBelowPythonLimit);
      agree = false;
    }
    if (s.time < pyconc_small.time) pyconc_small = s;
  }

  // I/O-bound: pyconc one after another, then on a pool; Python on a pool.
  std::printf("   %d downloads of %lld ms each, one after another, then on ThreadPoolExecutor(%d) ...\n",
              kDownloads, static_cast<long long>(kDownloadTime.count()), kIoWorkers);
  std::fflush(stdout);
  IoRun one_by_one = downloads_one_after_another();
  IoRun pooled{pyconc::Seconds::max(), true};
  for (int round = 0; round < kRounds; ++round) {
    IoRun r = downloads_on_a_pool();
    pooled.in_order = pooled.in_order && r.in_order;
    pooled.time = std::min(pooled.time, r.time);
  }
  if (!one_by_one.in_order || !pooled.in_order) {
    std::printf("   FAILED: the downloads' results are missing or out of order\n");
    agree = false;
  }
  PythonFigures py_io;
  if (python.empty()) {
    py_io.problem = py_cpu.problem;
  } else {
    py_io = run_python(python, {"io", std::to_string(kDownloads), std::to_string(kIoWorkers), std::to_string(kRounds)},
                       {"pool_time", "in_order", "version"}, 20s);
  }
  if (py_io.ok && py_io.values.at("in_order") != "1") {
    std::printf("   FAILED: Python's downloads' results are missing or out of order\n");
    agree = false;
  }

  // The figures, side by side.
  std::string version = py_cpu.ok ? py_cpu.values.at("version") : py_io.ok ? py_io.values.at("version") : "";
  std::string py_name = "Python " + version;
  auto row_label = [](const std::string& who, long limit, const std::string& rounds) {
    return who + ", below " + with_commas(limit) + " (" + rounds + ")";
  };
  std::string best = "best of " + std::to_string(kRounds);
  std::printf("\n   %-44s%9s  %9s  %7s\n", "CPU-bound: count primes by trial division", "1 thread", "2 threads",
              "speedup");
  std::printf("     %-42s%7.2f s  %7.2f s  %6.2fx\n", row_label("pyconc", kLimit, best).c_str(),
              pyconc_cpu.serial.time.count(), pyconc_cpu.parallel.time.count(),
              pyconc_cpu.serial.time / pyconc_cpu.parallel.time);
  if (py_cpu.ok) {
    double serial = py_cpu.number("serial_time"), threaded = py_cpu.number("threads_time");
    std::printf("     %-42s%7.2f s  %7.2f s  %6.2fx  <- the GIL\n",
                row_label(py_name, kPythonLimit, "1 round").c_str(), serial, threaded, serial / threaded);
    std::printf("     %-42s%7.2f s   = %.0fx Python's speed on the same job\n",
                row_label("pyconc", kPythonLimit, best).c_str(), pyconc_small.time.count(),
                serial / pyconc_small.time.count());
    std::printf("     (Python counts below %s, not %s: its 1 thread takes seconds already.\n"
                "      2 threads: pyconc's are threading::Threads, Python's a ThreadPoolExecutor(2)\n"
                "      map; both split the range at 3/5, equal work on each thread.)\n",
                with_commas(kPythonLimit).c_str(), with_commas(kLimit).c_str());
  } else {
    std::printf("     %-42s%7.2f s\n", row_label("pyconc", kPythonLimit, best).c_str(), pyconc_small.time.count());
    print_skipped(py_cpu);
  }

  std::printf("\n   I/O-bound: %d downloads of %lld ms each (a sleep stands for the network)\n", kDownloads,
              static_cast<long long>(kDownloadTime.count()));
  std::string on_pool = "ThreadPoolExecutor(" + std::to_string(kIoWorkers) + ").map, ";
  std::printf("     %-42s%7.2f s\n", "one after another, pyconc", one_by_one.time.count());
  std::printf("     %-42s%7.2f s  (%.1fx; best of %d)\n", (on_pool + "pyconc").c_str(), pooled.time.count(),
              one_by_one.time / pooled.time, kRounds);
  if (py_io.ok)
    std::printf("     %-42s%7.2f s  (best of %d)\n", (on_pool + py_name).c_str(), py_io.number("pool_time"),
                kRounds);
  else if (python.empty())
    std::printf("     %-42s%9s\n", (on_pool + "Python").c_str(), "skipped");
  else
    print_skipped(py_io);

  std::printf("\n   Threads speed up waiting in Python and pyconc alike; without a GIL, pyconc's\n"
              "   speed up computing too.\n");
  return agree;
}

// ---- 4. where to read on -------------------------------------------------------------

void read_on() {
  std::printf("\n== Read on ==\n");
  std::printf("   README.md                        what pyconc is; build, test, use it from CMake\n");
  std::printf("   examples/seeds/                  the programs above, with their Python originals\n");
  std::printf("   make test                        every test suite (g++, ThreadSanitizer, ASan+UBSan,\n");
  std::printf("                                    clang -Wthread-safety)\n");
  std::printf("   docs/                            the docs: threading.md, queue.md, futures.md (every\n");
  std::printf("                                    Python call and its C++), differences-from-python.md\n");
  std::printf("   make bench                       the full benchmarks: pyconc against Python's standard\n");
  std::printf("                                    library and C++ peers (interleaved rounds, medians)\n");
  std::printf("   bench/README.md                  what each benchmark does and how it is measured\n");
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
  CpuFigures cpu;
  bool agree = primes_on_two_threads(cpu);
  agree = why_pyconc(cpu) && agree;
  read_on();

  if (failures > 0) std::printf("\npyconc_demo: %d program(s) FAILED\n", failures);
  if (!agree) std::printf("\npyconc_demo: a count or a result disagrees (see FAILED above)\n");
  return failures == 0 && agree ? 0 : 1;
}
