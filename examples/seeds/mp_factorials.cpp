// mp_factorials — factorials computed in parallel processes, started with "spawn".
//
// Shows: set_start_method("spawn") (each child is a fresh run of this program that
// freeze_support() turns into the child), several processes at once, join(), exit codes.
// The four lines come in any order, as in Python.
//
// The Python original:
//
//     import math
//     import multiprocessing as mp
//
//     def factorial(n):
//         print(f"{mp.current_process().name}: {n}! = {math.factorial(n)}")
//
//     if __name__ == "__main__":
//         mp.set_start_method("spawn")
//         procs = [mp.Process(target=factorial, args=(n,)) for n in (5, 10, 15, 20)]
//         for p in procs:
//             p.start()
//         for p in procs:
//             p.join()
//         print("exit codes:", [p.exitcode for p in procs])
//
// C++ integers are bounded: 20! is the largest factorial an unsigned 64-bit integer holds.
#include <pyconc/multiprocessing/context.hpp>
#include <pyconc/multiprocessing/process.hpp>

#include <cstdint>
#include <cstdio>
#include <vector>

namespace mp = pyconc::multiprocessing;

void factorial(int n) {
  std::uint64_t result = 1;
  for (int i = 2; i <= n; ++i) result *= static_cast<std::uint64_t>(i);
  std::printf("%s: %d! = %llu\n", mp::current_process().name().c_str(), n,
              static_cast<unsigned long long>(result));
}

int main(int argc, char** argv) {
  mp::freeze_support(argc, argv);
  mp::set_start_method("spawn");
  std::vector<mp::Process> procs;
  for (int n : {5, 10, 15, 20}) procs.emplace_back(factorial, n);
  for (auto& p : procs) p.start();
  for (auto& p : procs) p.join();
  std::printf("exit codes:");
  for (auto& p : procs) std::printf(" %d", *p.exitcode());
  std::printf("\n");
}
