// What the parts of pyconc_demo share (main.cpp runs them in order):
//   seeds.cpp       1. the ported Python programs, each in a child process
//   primes.cpp      2. the prime count on one thread and on two
//   why_pyconc.cpp  3. the same jobs run by Python, its figures beside pyconc's
//   run_program.cpp starting a program with a time limit and collecting its output
#pragma once

#include <pyconc/threading.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace demo {

using Clock = std::chrono::steady_clock;

// ---- run_program.cpp -------------------------------------------------------------------

struct RunResult {
  bool ok = false;
  std::string output;  // stdout and stderr, merged (stdout only with live_stderr)
  std::string status;  // "exit 0", "killed by signal: Segmentation fault", ...
};

/// Runs args[0] (a path) with the arguments args[1...], its stdout and stderr into a
/// pipe (with `live_stderr`, only its stdout: its stderr is the demo's); kills it after
/// `timeout`.
RunResult run_program(const std::vector<std::string>& args, std::chrono::seconds timeout,
                      bool live_stderr = false);

/// Prints a program's output indented under its header.
void print_indented(const std::string& text);

// ---- seeds.cpp ---------------------------------------------------------------------------

/// Runs every seed program found in `dir`; returns how many failed.
int run_seeds(const std::filesystem::path& dir);

// ---- primes.cpp ----------------------------------------------------------------------------

/// count_primes(lo, hi) of the Python comparison, ported: trial division.
long count_primes(long lo, long hi);

/// 5000000 -> "5,000,000".
std::string with_commas(long n);

struct Run {
  long count;
  pyconc::Seconds time;
};

/// count_primes(0, limit) on the calling thread, timed.
Run one_thread(long limit);

constexpr int kRounds = 3;
constexpr long kLimit = 5'000'000;

/// pyconc's best times, for the comparison with Python.
struct CpuFigures {
  Run serial{0, pyconc::Seconds::max()};
  Run parallel{0, pyconc::Seconds::max()};
};

/// Section 2; fills `best`. Returns false when the counts disagree.
bool primes_on_two_threads(CpuFigures& best);

// ---- why_pyconc.cpp ------------------------------------------------------------------------

/// Section 3. Returns false when a count disagrees, pyconc's or Python's; Python missing
/// or failing is not an error (its figures are skipped).
bool why_pyconc(const CpuFigures& pyconc_cpu);

}  // namespace demo
