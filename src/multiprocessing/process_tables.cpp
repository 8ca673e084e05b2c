// The per-process tables: who this process is (current_process()), its parent
// (parent_process()) and the children it started and has not reaped yet.
//
//   Process handle ──shared_ptr──► ProcessState ◄──shared_ptr── children table (until reaped)
//   main process: tables made on first use ("MainProcess", a random authkey)
//   a child (any start method): install_child_tables() replaces them, before its work
#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/exit_hooks.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/threading/lock.hpp"
#include "process_internal.hpp"

namespace pyconc::multiprocessing::detail {

using threading::Lock;

namespace {

struct Tables {
  Lock mutex;
  std::map<int, std::shared_ptr<ProcessState>> children PYCONC_GUARDED_BY(mutex);
  bool exit_hook_registered PYCONC_GUARDED_BY(mutex) = false;
  std::atomic<int> counter{0};
  std::shared_ptr<ProcessState> current;  // set once, before other threads can look
  Process* current_alias = nullptr;
  std::shared_ptr<ProcessState> parent;   // null in the main process
};

Tables* g_tables = nullptr;

// The main process's key (Python: os.urandom(32)).
std::vector<std::byte> random_authkey() {
  std::vector<std::byte> key(32);
  for (std::size_t i = 0; i < key.size(); i += sizeof(std::uint64_t)) {
    std::uint64_t bits = random_u64();
    std::memcpy(key.data() + i, &bits, sizeof bits);
  }
  return key;
}

std::shared_ptr<ProcessState> make_current(std::string name, bool daemon, std::vector<int> identity,
                                           std::vector<std::byte> authkey) {
  auto st = std::make_shared<ProcessState>(Role::current, std::move(name), daemon);
  st->identity = std::move(identity);
  {
    pyconc::detail::LockGuard guard(st->mutex);
    st->authkey = std::move(authkey);
  }
  st->started = true;
  st->pid = self_pid();
  st->creator_pid = self_pid();
  return st;
}

Tables& tables() {
  static const bool made = [] {
    if (!g_tables) {
      std::vector<std::byte> authkey = random_authkey();
      g_tables = new Tables;  // leaked: children of daemon threads may use it during exit
      g_tables->current = make_current("MainProcess", false, {}, std::move(authkey));
      g_tables->current_alias = new Process(ProcessAccess::alias(g_tables->current));
    }
    return true;
  }();
  (void)made;
  return *g_tables;
}

void register_exit_function() {
  Tables& t = tables();
  {
    pyconc::detail::LockGuard guard(t.mutex);
    if (t.exit_hook_registered) return;
    t.exit_hook_registered = true;
  }
  pyconc::detail::register_exit_hook(join_children_at_exit);
}

// What a fork child replaced stays reachable (LeakSanitizer would report it otherwise).
void* g_replaced_after_fork[4 * 16] = {};
std::size_t g_replaced_count = 0;

}  // namespace

void keep_reachable(void* p) {
  if (g_replaced_count < sizeof g_replaced_after_fork / sizeof g_replaced_after_fork[0])
    g_replaced_after_fork[g_replaced_count++] = p;
}

Process& current_alias() { return *tables().current_alias; }

std::shared_ptr<ProcessState> current_state() { return tables().current; }

std::shared_ptr<ProcessState> parent_state() { return tables().parent; }

void add_child(const std::shared_ptr<ProcessState>& st) {
  register_exit_function();
  Tables& t = tables();
  pyconc::detail::LockGuard guard(t.mutex);
  t.children[st->pid.load()] = st;
}

void forget_child(int pid) {
  Tables& t = tables();
  std::shared_ptr<ProcessState> doomed;
  pyconc::detail::LockGuard guard(t.mutex);
  auto it = t.children.find(pid);
  if (it != t.children.end()) {
    doomed = std::move(it->second);
    t.children.erase(it);
  }
}

std::vector<std::shared_ptr<ProcessState>> children_snapshot() {
  Tables& t = tables();
  std::vector<std::shared_ptr<ProcessState>> kids;
  pyconc::detail::LockGuard guard(t.mutex);
  for (auto& [pid, st] : t.children) kids.push_back(st);
  return kids;
}

std::string next_default_name(std::vector<int>& identity_out) {
  Tables& t = tables();
  identity_out = t.current->identity;
  identity_out.push_back(++t.counter);
  std::string name = "Process-";
  for (std::size_t i = 0; i < identity_out.size(); ++i) {
    if (i) name += ':';
    name += std::to_string(identity_out[i]);
  }
  return name;
}

void install_child_tables(std::string name, bool daemon, std::vector<int> identity, std::vector<std::byte> authkey,
                          int parent_pid, std::string parent_name) {
  pyconc::detail::threading_after_fork_in_child();
  // Fresh tables: the parent's locks may have been held by its other threads at fork().
  launcher_forget_in_child();
  keep_reachable(g_tables);
  auto* t = new Tables;
  t->current = make_current(std::move(name), daemon, std::move(identity), std::move(authkey));
  t->current_alias = new Process(ProcessAccess::alias(t->current));
  t->parent = std::make_shared<ProcessState>(Role::parent, std::move(parent_name), false);
  t->parent->started = true;
  t->parent->pid = parent_pid;
  t->parent->creator_pid = self_pid();
  t->parent->pidfd = open_pidfd(parent_pid);
  g_tables = t;
  (void)tables();
  if (int fd = t->parent->pidfd.load(); fd >= 0) register_machinery_fd(fd);
}

void adopt_current_process(Process& p) {
  ProcessAccess::set_state(p, tables().current);
  tables().counter = 0;  // building p counted a name
}

}  // namespace pyconc::multiprocessing::detail
