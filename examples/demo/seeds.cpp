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
};

const std::vector<Seed> kSeeds = {
    {"hello_threads", "", "threads say hello: Thread(target=hello), current_thread().name"},
    {"lock_counter", "", "a shared counter: with lock: counter += 1"},
    {"downloads", "", "three downloads at once: time.sleep stands for the network"},
    {"five_workers", "", "five workers started in a loop, kept in a list, joined"},
    {"producer_consumer", "", "producer and consumer over queue.Queue(maxsize=5)"},
    {"fetch_urls", "", "ThreadPoolExecutor + as_completed fetching URLs (local server, libcurl)"},
    {"cpu_bound_pool", "", "CPU-bound work with ThreadPoolExecutor.map over chunks"},
    {"mp_hello", "", "hello from a multiprocessing.Process: Process(target=f, args=(\"bob\",))"},
    {"mp_squares", "", "squares computed in a child Process, sent back through a multiprocessing.Queue"},
    {"mp_factorials", "", "factorials in parallel Processes"},
    {"mp_manager", "", "a Manager's dict and list, changed by a child Process: manager.dict(), manager.list(range(10))"},
};

constexpr auto kSeedTimeout = 20s;

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
  std::printf("   (each program's source holds its Python original: examples/seeds/<name>.cpp)\n");
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
    RunResult r = run_program(args, kSeedTimeout);
    pyconc::Seconds took = Clock::now() - start;
    print_indented(r.output);
    std::printf("    %s (%s, %.2f s)\n", r.ok ? "ok" : "FAILED", r.status.c_str(), took.count());
    if (!r.ok) ++failures;
  }
  return failures;
}

}  // namespace demo
