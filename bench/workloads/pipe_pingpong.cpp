// pipe_pingpong: a child process echoes ints on a duplex multiprocessing::Pipe; the
// parent sends N ints, waiting for each to come back. Reports microseconds per round
// trip. The child is made by fork() (Process' fork start method does the same).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <pyconc/multiprocessing/connection.hpp>
#include <string_view>

#include "workload.hpp"

namespace mp = pyconc::multiprocessing;

namespace {

void pyconc_pipe(std::string_view impl, long long n) {
  auto [parent, child] = mp::Pipe();
  pid_t pid = ::fork();
  if (pid == 0) {
    parent.close();
    for (;;) {
      long v = child.recv<long>();
      child.send(v);
      if (v == -1) ::_exit(0);
    }
  }
  child.close();
  parent.send(0L);
  bench::check(parent.recv<long>() == 0, "echo");  // the child runs
  bool ok = true;
  auto t0 = std::chrono::steady_clock::now();
  for (long long i = 0; i < n; ++i) {
    parent.send(static_cast<long>(i));
    ok = ok && parent.recv<long>() == i;
  }
  double d = bench::seconds_since(t0);
  parent.send(-1L);
  parent.recv<long>();
  int status = 0;
  ::waitpid(pid, &status, 0);
  bench::check(ok, "every int came back");
  bench::check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exited cleanly");
  bench::emit("pipe_pingpong", impl, d / static_cast<double>(n) * 1e6, "us/roundtrip", n);
}

}  // namespace

int main(int argc, char** argv) {
  long long n = bench::arg_n(argc, argv, 100'000);
  std::string_view impl = argc > 1 && argv[1][0] != '-' ? argv[1] : "pyconc";
  if (impl == "pyconc") pyconc_pipe(impl, n);
  else return std::fprintf(stderr, "unknown impl %.*s\n", static_cast<int>(impl.size()), impl.data()), 2;
  return 0;
}
