// A child's life under every start method, once it is the Process: run the target,
// then the exit work, then _exit.
//
//   child_run: Process::run() or the target ──► an exception: reported on stderr, code 1
//   child_finish(code): exit handlers (threads, children) ──► flush ──► _exit(code)
//   exit(n) anywhere in the child ──on_exit──► child_finish(n)
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <string>

#include "pyconc/detail/exit_hooks.hpp"
#include "process_internal.hpp"

namespace pyconc::multiprocessing::detail {

// exit(n) in a child: the child's exit work, then _exit(n) — as Python's child turns
// sys.exit(n) into os._exit(n) after its cleanup. The parent's atexit handlers and static
// destructors (copied by fork) do not run in the child.
void exit_in_child(int status, void*) { child_finish(status); }

[[noreturn]] void child_finish(int code) {
  static std::atomic<bool> finishing{false};
  if (!finishing.exchange(true)) {
    try {
      pyconc::detail::run_exit_handlers();
    } catch (...) {
    }
  }
  std::fflush(nullptr);
  std::cout.flush();
  std::cerr.flush();
  ::_exit(code);
}

int child_run(ProcessState& st) {
  int code = 0;
  try {
    if (st.self)
      st.self->run();
    else if (st.target)
      st.target->call();
  } catch (...) {
    std::string name = current_alias().name();
    std::string text = "Process " + name + ":\n" + describe_exception(std::current_exception()) + "\n";
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
    code = 1;
  }
  return code;
}

}  // namespace pyconc::multiprocessing::detail
