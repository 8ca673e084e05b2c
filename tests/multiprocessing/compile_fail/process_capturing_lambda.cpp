// Must NOT compile: a capturing lambda cannot be sent to a child process
// (docs/conventions.md, "Callables across processes").
// tests/CMakeLists.txt checks that the compiler's message says what to do.
#include "pyconc/multiprocessing/process.hpp"

int main() {
  int n = 3;
  pyconc::multiprocessing::Process p([n] { (void)n; });
  p.start();
}
