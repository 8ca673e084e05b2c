// Section 1 of the demo: the classic programs of Python's concurrency tutorials, ported
// (examples/seeds/<name>.cpp, built next to pyconc_demo as seed_<name>), each run in a
// child process with its output shown under a header naming the Python program.
#include <cstdio>
#include <set>

#include "demo.hpp"

namespace demo {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct Seed {
  std::string name;    // examples/seeds/<name>.cpp, built as seed_<name>
  std::string args;    // "--quick" for the programs that would sleep long or never end
  std::string python;  // what the Python original does
  // Its stderr goes straight to the demo's (a terminal, when the demo runs on one), for
  // the programs that draw a progress bar there; their stdout is collected as the others'.
  bool live_stderr = false;
};

// The tutorials' order; the extras last.
const std::vector<Seed> kSeeds = {
    {"thread_hello", "", "Thread(target=print_hello): hello 5 times from Thread-1"},
    {"lock_counter", "", "10 Threads, each adds 1 to a counter inside `with lock:`"},
    {"producer_consumer", "--quick", "producer and consumer over queue.Queue(maxsize=5); endless (here 20 items)"},
    {"process_hello", "", "Process(target=print_hello): hello 5 times from Process-1"},
    {"queue_squares", "", "5 Processes put (x, x*x) on one multiprocessing.Queue"},
    {"queue_factorials", "", "4 Processes put (n, n!) on one multiprocessing.Queue"},
    {"numbers", "--quick", "a Thread prints a number a second (here 10 ms)"},
    {"downloads", "", "3 downloads of 2 s (time.sleep), a Thread each: 2 s in all, not 6"},
    {"web_fetch", "", "a Thread per URL: requests.get(url).status_code (local server, libcurl)"},
    {"process_squares", "", "a Process per number of range(5) prints its square"},
    {"threads_vs_processes", "", "CPU-bound: serially, on N Threads, on N Processes (no GIL: both ~Nx)"},
    {"pools", "",
     "ThreadPoolExecutor for 5 waits of 1 s (1 s in all, not 5); ProcessPoolExecutor and Pool\n"
     "        for a prime count, the last one under a tqdm progress bar (drawn on a terminal)",
     true},
    {"five_workers", "", "5 worker Threads sleep 2 s each: 2 s in all, not 10"},
    {"fetch_urls", "", "3 URLs, a Thread each, then \"All URLs fetched.\" (local server, libcurl)"},
    {"lock_counter_2_threads", "", "2 Threads x 100,000 `with lock: counter += 1`"},
    {"cpu_bound_pool", "", "extra: ThreadPoolExecutor.map over chunks of a prime count"},
    {"mp_manager", "", "extra: a Manager's dict and list, changed by a child Process"},
};

constexpr auto kSeedTimeout = 30s;

}  // namespace

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
  for (const std::string& name : extra) seeds.push_back({name, "", "see its source for the Python original"});

  std::printf("== Python's classic concurrency programs, ported line by line ==\n");
  std::printf("   (each program's source holds its Python original: examples/seeds/<name>.cpp;\n");
  std::printf("    asyncio.gather arrives with pyconc's asyncio)\n");
  int failures = 0;
  int index = 0;
  for (const Seed& seed : seeds) {
    ++index;
    std::string command = "seed_" + seed.name + (seed.args.empty() ? "" : " " + seed.args);
    std::printf("\n[%d/%zu] %s  <-  Python: %s\n", index, seeds.size(), command.c_str(), seed.python.c_str());
    std::fflush(stdout);
    std::vector<std::string> args = {(dir / ("seed_" + seed.name)).string()};
    if (!seed.args.empty()) args.push_back(seed.args);
    auto start = Clock::now();
    RunResult r = run_program(args, kSeedTimeout, seed.live_stderr);
    pyconc::Seconds took = Clock::now() - start;
    print_indented(r.output);
    std::printf("    %s (%s, %.2f s)\n", r.ok ? "ok" : "FAILED", r.status.c_str(), took.count());
    if (!r.ok) ++failures;
  }
  return failures;
}

}  // namespace demo
