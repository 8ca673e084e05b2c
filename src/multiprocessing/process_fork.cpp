// The fork start method: the child is a copy of this process, forked by the launcher
// thread; it needs nothing pickled.
//
//   start() ──► fork_child (launcher thread) ──► child: install_child_tables, forget the
//                                                fork server, run(), exit work, _exit
//        ◄── pid, pidfd ◄── parent
#include <cstdlib>
#include <string>
#include <vector>

#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "process_internal.hpp"
#include "spawn_internal.hpp"

namespace pyconc::multiprocessing::detail {

void launch_fork(ProcessState& st) {
  int parent_pid = self_pid();
  std::string parent_name = current_alias().name();
  std::vector<std::byte> authkey;  // the key at start(), taken here: no lock in the child for it
  {
    pyconc::detail::LockGuard guard(st.mutex);
    authkey = st.authkey;
  }
  int pidfd = -1;
  int pid = fork_child(
      [&] {
        std::string name;
        {
          pyconc::detail::LockGuard guard(st.mutex);
          name = st.name;
        }
        install_child_tables(std::move(name), st.daemon.load(), st.identity, std::move(authkey), parent_pid,
                             parent_name);
        forkserver_forget_in_child();
        ::on_exit(exit_in_child, nullptr);
        child_finish(child_run(st));
      },
      &pidfd);
  st.pid = pid;
  st.pidfd = pidfd;
}

}  // namespace pyconc::multiprocessing::detail
