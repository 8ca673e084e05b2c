// Must NOT compile: a Process argument that cannot be pickled (a raw pointer).
#include "pyconc/multiprocessing/process.hpp"

void f(int*) {}

int main() {
  int n = 3;
  pyconc::multiprocessing::Process p(f, &n);
  p.start();
}
