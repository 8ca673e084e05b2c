// Section 3 of the demo, "why pyconc": Python itself (Debian's /usr/bin/python3, else
// python3 on the PATH) runs the same jobs in the same run, from the script kPythonJobs
// below, and its figures are printed beside pyconc's: the prime count (below 1,000,000:
// Python is slow) on 1 thread and on a ThreadPoolExecutor(2), and 50 simulated downloads
// (20 ms sleeps) on a ThreadPoolExecutor(10). Without a python3, Python's figures are
// skipped.
#include <unistd.h>

#include <pyconc/futures.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>
#include <thread>

#include "demo.hpp"

namespace demo {

namespace futures = pyconc::futures;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

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

}  // namespace

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

}  // namespace demo
