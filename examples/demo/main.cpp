// pyconc_demo — `make demo`: the ported Python programs, then what the GIL never allowed,
// measured next to Python in the same run.
//
//   1. runs each program of examples/seeds/ (built next to this executable as
//      seed_<name>) in a child process and shows its output under a header naming the
//      Python program it ports (seeds.cpp);
//   2. counts the primes below 5,000,000 by trial division, in one thread and on two
//      threading::Threads (best of 3 rounds each), and prints the speedup (primes.cpp);
//   3. "why pyconc": runs Python on the same jobs and prints its figures beside
//      pyconc's (why_pyconc.cpp);
//   4. says where to read on: the full benchmarks (make bench) and the docs.
//
// Exits with 1 if a program fails or a count disagrees (pyconc's or Python's). Takes
// about 50 s on 2 cores.
#include <cstdio>

#include "demo.hpp"

namespace fs = std::filesystem;

namespace {

void read_on() {
  std::printf("\n== Read on ==\n");
  std::printf("   README.md                        what pyconc is; build, test, use it from CMake\n");
  std::printf("   examples/seeds/                  the programs above, with their Python originals\n");
  std::printf("   make test                        every test suite (g++, ThreadSanitizer, ASan+UBSan,\n");
  std::printf("                                    clang -Wthread-safety, the installed .deb)\n");
  std::printf("   docs/conventions.md              how a Python call maps to C++, in every module\n");
  std::printf("   docs/                            the module pages: threading.md, queue.md, futures.md,\n");
  std::printf("                                    multiprocessing.md (every Python call and its C++),\n");
  std::printf("                                    differences-from-python.md, installing.md\n");
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
  std::printf("pyconc demo: Python's threading and multiprocessing in C++20, same names and semantics, no GIL\n\n");
  int failures = demo::run_seeds(own_directory());
  demo::CpuFigures cpu;
  bool agree = demo::primes_on_two_threads(cpu);
  agree = demo::why_pyconc(cpu) && agree;
  read_on();

  if (failures > 0) std::printf("\npyconc_demo: %d program(s) FAILED\n", failures);
  if (!agree) std::printf("\npyconc_demo: a count or a result disagrees (see FAILED above)\n");
  return failures == 0 && agree ? 0 : 1;
}
