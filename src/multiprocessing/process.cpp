// Process, the per-process tables (current process, parent, children), the launcher
// thread that forks, and the fork start method.
//
//   Process handle ──shared_ptr──► ProcessState ◄──shared_ptr── children table (until reaped)
//   start() ──request──► launcher thread: fork() ──► child: reset tables, run(), exit work, _exit
//                                         └─ parent: pidfd_open ──► sentinel, join, reaping
//
// Children are forked by one long-lived thread per process: PR_SET_PDEATHSIG fires when
// the *thread* that forked exits, and this one never does, so children die with the
// process and only then.
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/multiprocessing/detail/resource_tracker.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <typeinfo>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/exit_hooks.hpp"
#include "pyconc/detail/futex.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/threading/lock.hpp"
#include "pyconc/threading/timeout.hpp"
#include "process_internal.hpp"
#include "spawn_internal.hpp"

namespace pyconc::multiprocessing::detail {

using threading::Lock;

namespace {

int pidfd_open(int pid) noexcept { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// ---- per-process tables -----------------------------------------------------------------

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

// What a fork child replaced stays reachable (LeakSanitizer would report it otherwise).
void* g_replaced_after_fork[4 * 16] = {};
std::size_t g_replaced_count = 0;
void keep_reachable(void* p) {
  if (g_replaced_count < sizeof g_replaced_after_fork / sizeof g_replaced_after_fork[0])
    g_replaced_after_fork[g_replaced_count++] = p;
}

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

// ---- the launcher thread ----------------------------------------------------------------

struct Launcher {
  Lock request_mutex;                        // one request at a time
  std::function<void()>* job = nullptr;      // written under request_mutex before `posted`
  std::atomic<std::uint32_t> posted{0};      // futex: request count
  std::atomic<std::uint32_t> finished{0};    // futex: requests done
};

Launcher* g_launcher = nullptr;
Lock* g_launcher_mutex = nullptr;  // guards creating g_launcher

void* launcher_main(void* arg) {
  auto* l = static_cast<Launcher*>(arg);
  std::uint32_t seen = 0;
  for (;;) {
    std::uint32_t now;
    while ((now = l->posted.load(std::memory_order_acquire)) == seen) pyconc::detail::futex_wait(l->posted, seen);
    seen = now;
    (*l->job)();
    l->finished.store(seen, std::memory_order_release);
    pyconc::detail::futex_wake_all(l->finished);
  }
  return nullptr;
}

Launcher& launcher() {
  static const bool made = [] {
    if (!g_launcher_mutex) g_launcher_mutex = new Lock;
    return true;
  }();
  (void)made;
  pyconc::detail::LockGuard guard(*g_launcher_mutex);
  if (!g_launcher) {
    auto* l = new Launcher;  // leaked: lives as long as the process
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    // Signals for the process go to other threads; the child gets the caller's mask back.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, launcher_main, l);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
      delete l;
      throw RuntimeError(std::string("can't start the process launcher thread: ") + std::strerror(rc));
    }
    g_launcher = l;
  }
  return *g_launcher;
}

// ---- reaping ----------------------------------------------------------------------------

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

// The exit work of the process (Python's _exit_function): daemonic children are
// terminated, then every child is joined.
void exit_function() {
  std::vector<std::shared_ptr<ProcessState>> kids;
  {
    Tables& t = tables();
    pyconc::detail::LockGuard guard(t.mutex);
    for (auto& [pid, st] : t.children) kids.push_back(st);
  }
  for (auto& st : kids)
    if (st->daemon.load() && !poll_state(*st)) signal_state(*st, SIGTERM);
  for (auto& st : kids) wait_state(*st, pyconc::detail::Deadline::never());
}

void register_exit_function() {
  Tables& t = tables();
  {
    pyconc::detail::LockGuard guard(t.mutex);
    if (t.exit_hook_registered) return;
    t.exit_hook_registered = true;
  }
  pyconc::detail::register_exit_hook(exit_function);
}

}  // namespace

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return 255;
}

ProcessState::ProcessState(Role r, std::string n, bool d) : role(r), name(std::move(n)), daemon(d) {}

ProcessState::~ProcessState() {
  int fd = pidfd.load();
  if (fd >= 0 && role != Role::current) ::close(fd);
  if (int sfd = status_fd.load(); sfd >= 0) ::close(sfd);
}

std::optional<int> poll_state(ProcessState& st) {
  int pid = st.pid.load();
  {
    pyconc::detail::LockGuard guard(st.mutex);
    if (st.returncode || pid <= 0) return st.returncode;
    if (st.status_fd.load() >= 0) {
      // A fork server's child: it reaps; we learn the status through the pipe.
      pollfd p{st.pidfd.load(), POLLIN, 0};
      if (::poll(&p, 1, 0) != 1) return std::nullopt;
      st.returncode = read_forkserver_status(st, true);
      if (!st.returncode) st.returncode = 255;
      int sfd = st.status_fd.exchange(-1);
      ::close(sfd);
    } else {
      int status = 0;
      pid_t r;
      do r = ::waitpid(pid, &status, WNOHANG); while (r < 0 && errno == EINTR);
      if (r == 0) return std::nullopt;
      // r < 0 (ECHILD): someone else reaped it; its status is lost.
      st.returncode = r == pid ? decode_status(status) : 255;
    }
  }
  forget_child(pid);
  pyconc::detail::LockGuard guard(st.mutex);
  return st.returncode;
}

bool wait_state(ProcessState& st, const pyconc::detail::Deadline& deadline) {
  for (;;) {
    if (poll_state(st)) return true;
    int fd = st.pidfd.load();
    if (fd < 0) return false;
    pollfd p{fd, POLLIN, 0};
    int rc;
    if (deadline.is_never()) {
      rc = ::ppoll(&p, 1, nullptr, nullptr);
    } else {
      auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.remaining()).count();
      timespec ts{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
      rc = ::ppoll(&p, 1, &ts, nullptr);
    }
    if (rc == 0 && deadline.expired()) return poll_state(st).has_value();
    if (rc < 0 && errno != EINTR) return poll_state(st).has_value();
  }
}

void signal_state(ProcessState& st, int sig) {
  pyconc::detail::LockGuard guard(st.mutex);
  int pid = st.pid.load();
  if (st.returncode || pid <= 0) return;
  // Not reaped yet (we hold the lock that reaping takes); the pidfd names exactly it.
  int fd = st.pidfd.load();
  if (fd >= 0)
    ::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0);
  else
    ::kill(pid, sig);
}

Process& current_alias() { return *tables().current_alias; }

std::shared_ptr<ProcessState> current_state() { return tables().current; }

void add_child(const std::shared_ptr<ProcessState>& st) {
  register_exit_function();
  Tables& t = tables();
  pyconc::detail::LockGuard guard(t.mutex);
  t.children[st->pid.load()] = st;
}

std::vector<std::shared_ptr<ProcessState>> children_snapshot() {
  Tables& t = tables();
  std::vector<std::shared_ptr<ProcessState>> kids;
  pyconc::detail::LockGuard guard(t.mutex);
  for (auto& [pid, st] : t.children) kids.push_back(st);
  return kids;
}

void reap_finished_children() {
  for (auto& st : children_snapshot()) (void)poll_state(*st);
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

void run_in_launcher(std::function<void()>& job) {
  Launcher& l = launcher();
  pyconc::detail::LockGuard guard(l.request_mutex);
  l.job = &job;
  std::uint32_t ticket = l.posted.load(std::memory_order_relaxed) + 1;
  l.posted.store(ticket, std::memory_order_release);
  pyconc::detail::futex_wake_all(l.posted);
  std::uint32_t done;
  while ((done = l.finished.load(std::memory_order_acquire)) != ticket) pyconc::detail::futex_wait(l.finished, done);
}

void install_child_tables(std::string name, bool daemon, std::vector<int> identity, std::vector<std::byte> authkey,
                          int parent_pid, std::string parent_name) {
  pyconc::detail::threading_after_fork_in_child();
  // Fresh tables: the parent's locks may have been held by its other threads at fork().
  keep_reachable(g_launcher);
  keep_reachable(g_launcher_mutex);
  keep_reachable(g_tables);
  g_launcher = nullptr;
  g_launcher_mutex = new Lock;
  auto* t = new Tables;
  t->current = make_current(std::move(name), daemon, std::move(identity), std::move(authkey));
  t->current_alias = new Process(ProcessAccess::alias(t->current));
  t->parent = std::make_shared<ProcessState>(Role::parent, std::move(parent_name), false);
  t->parent->started = true;
  t->parent->pid = parent_pid;
  t->parent->creator_pid = self_pid();
  t->parent->pidfd = pidfd_open(parent_pid);
  g_tables = t;
  (void)tables();
  if (int fd = t->parent->pidfd.load(); fd >= 0) register_machinery_fd(fd);
}

// exit(n) in a child: the child's exit work, then _exit(n) — as Python's child turns
// sys.exit(n) into os._exit(n) after its cleanup. The parent's atexit handlers and static
// destructors (copied by fork) do not run in the child.
void exit_in_child(int status, void*) { child_finish(status); }  // (also for spawn children)

void child_after_fork(int parent_pid, const std::string& parent_name, const ProcessState& child,
                      std::vector<std::byte> authkey, const sigset_t& caller_mask) {
  // Die with the parent. If it died before prctl took effect, we were reparented already.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent_pid) ::_exit(1);
  pthread_sigmask(SIG_SETMASK, &caller_mask, nullptr);
  std::string name;
  {
    pyconc::detail::LockGuard guard(child.mutex);
    name = child.name;
  }
  install_child_tables(std::move(name), child.daemon.load(), child.identity, std::move(authkey), parent_pid,
                       parent_name);
  forkserver_forget_in_child();
  ::on_exit(exit_in_child, nullptr);
}

void adopt_current_process(Process& p) {
  ProcessAccess::set_state(p, tables().current);
  tables().counter = 0;  // building p counted a name
}

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

void launch_fork(ProcessState& st) {
  int parent_pid = self_pid();
  std::string parent_name = current_alias().name();
  std::vector<std::byte> authkey;  // the key at start(), taken here: no lock in the child for it
  {
    pyconc::detail::LockGuard guard(st.mutex);
    authkey = st.authkey;
  }
  sigset_t caller_mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &caller_mask);
  int pid = -1;
  int err = 0;
  std::function<void()> job = [&] {
    std::fflush(nullptr);  // no buffered output written twice
    pid = ::fork();
    if (pid == 0) {
      child_after_fork(parent_pid, parent_name, st, std::move(authkey), caller_mask);
      child_finish(child_run(st));
    }
    if (pid < 0) err = errno;
  };
  run_in_launcher(job);
  if (pid < 0) raise_os_error(err, "fork");
  int fd = pidfd_open(pid);
  if (fd < 0) {
    err = errno;
    ::kill(pid, SIGKILL);
    int status;
    ::waitpid(pid, &status, 0);
    raise_os_error(err, "pidfd_open");
  }
  st.pid = pid;
  st.pidfd = fd;
}

}  // namespace pyconc::multiprocessing::detail

namespace pyconc::multiprocessing {

using detail::ProcessState;
using detail::Role;

namespace {
constexpr const char* kClosed = "process object is closed";
}

Process::Process() : Process(ProcessOptions{}) {}

Process::Process(ProcessOptions options) {
  std::vector<int> identity;
  std::string default_name = detail::next_default_name(identity);
  bool daemon = options.daemon ? *options.daemon : current_process().daemon();
  state_ = std::make_shared<ProcessState>(Role::child, options.name ? std::move(*options.name) : default_name, daemon);
  state_->identity = std::move(identity);
  state_->creator_pid = detail::self_pid();
  std::vector<std::byte> authkey = current_process().authkey();  // Python: _config.copy()
  pyconc::detail::LockGuard guard(state_->mutex);
  state_->authkey = std::move(authkey);
}

Process::Process(std::shared_ptr<ProcessState> state, AliasTag) noexcept : state_(std::move(state)) {}
Process::Process(Process&& other) noexcept = default;
Process& Process::operator=(Process&& other) noexcept = default;
Process::~Process() = default;

void Process::set_target(std::unique_ptr<detail::ProcessTarget> target) { state_->target = std::move(target); }

ProcessState& Process::state_ref() const {
  if (!state_) throw RuntimeError("this Process handle was moved from");
  return *state_;
}

void Process::start() {
  detail::check_bootstrap();
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role != Role::child || st.started.load()) throw RuntimeError("cannot start a process twice");
  if (st.creator_pid != detail::self_pid())
    throw RuntimeError("can only start a process object created by current process");
  if (current_process().daemon()) throw RuntimeError("daemonic processes are not allowed to have children");
  if (st.started.exchange(true)) throw RuntimeError("cannot start a process twice");
  detail::reap_finished_children();
  // The family's one resource tracker runs before the first child: segments a child
  // creates are then cleaned by it, not by a tracker of the child's own.
  detail::ensure_resource_tracker();
  if (typeid(*this) != typeid(Process)) st.self = this;
  try {
    detail::launch(st);
  } catch (...) {
    st.self = nullptr;
    st.started = false;
    throw;
  }
  st.self = nullptr;
  detail::add_child(state_);
}

void Process::run() {
  ProcessState& st = state_ref();
  if (st.target) st.target->call();
}

namespace {
void check_joinable(const ProcessState& st) {
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role == Role::current || st.creator_pid != detail::self_pid())
    throw RuntimeError("can only join a child process");
  if (!st.started.load()) throw RuntimeError("can only join a started process");
}
}  // namespace

void Process::join() {
  ProcessState& st = state_ref();
  check_joinable(st);
  detail::wait_state(st, pyconc::detail::Deadline::never());
}

bool Process::join(Seconds timeout) {
  ProcessState& st = state_ref();
  check_joinable(st);
  return detail::wait_state(st, pyconc::detail::optional_deadline(timeout));
}

bool Process::is_alive() const {
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role == Role::current) return true;
  if (st.creator_pid != detail::self_pid()) throw RuntimeError("can only test a child process");
  if (!st.started.load()) return false;
  if (st.role == Role::parent) return detail::process_alive(st.pid.load());
  return !detail::poll_state(st).has_value();
}

std::optional<int> Process::exitcode() const {
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role != Role::child || !st.started.load()) return std::nullopt;
  return detail::poll_state(st);
}

std::optional<int> Process::pid() const {
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  if (!st.started.load() || st.pid.load() <= 0) return std::nullopt;
  return st.pid.load();
}

std::string Process::name() const {
  ProcessState& st = state_ref();
  pyconc::detail::LockGuard guard(st.mutex);
  return st.name;
}

void Process::set_name(std::string name) {
  ProcessState& st = state_ref();
  pyconc::detail::LockGuard guard(st.mutex);
  st.name = std::move(name);
}

std::vector<std::byte> Process::authkey() const {
  ProcessState& st = state_ref();
  pyconc::detail::LockGuard guard(st.mutex);
  return st.authkey;
}

void Process::set_authkey(std::vector<std::byte> key) {
  ProcessState& st = state_ref();
  pyconc::detail::LockGuard guard(st.mutex);
  st.authkey = std::move(key);
}

bool Process::daemon() const { return state_ref().daemon.load(); }

void Process::set_daemon(bool daemonic) {
  ProcessState& st = state_ref();
  if (st.role != Role::current && st.started.load()) throw RuntimeError("process has already started");
  st.daemon = daemonic;
}

namespace {
void send_signal(ProcessState& st, int sig) {
  if (st.closed.load()) throw ValueError(kClosed);
  if (st.role != Role::child) throw RuntimeError("can only signal a child process");
  if (!st.started.load()) throw RuntimeError("cannot signal a process that was not started");
  detail::signal_state(st, sig);
}
}  // namespace

void Process::terminate() { send_signal(state_ref(), SIGTERM); }

void Process::kill() { send_signal(state_ref(), SIGKILL); }

void Process::close() {
  ProcessState& st = state_ref();
  if (st.closed.load()) return;
  if (st.role == Role::child && st.started.load()) {
    if (!detail::poll_state(st))
      throw ValueError("Cannot close a process while it is still running. You should first call join() or terminate().");
    int fd = st.pidfd.exchange(-1);
    if (fd >= 0) ::close(fd);
  }
  st.closed = true;
}

int Process::sentinel() const {
  ProcessState& st = state_ref();
  if (st.closed.load()) throw ValueError(kClosed);
  int fd = st.pidfd.load();
  if (!st.started.load() || fd < 0) throw ValueError("process not started");
  return fd;
}

// ---- module functions -------------------------------------------------------------------

Process& current_process() { return detail::current_alias(); }

std::optional<Process> parent_process() {
  auto parent = detail::parent_state();
  if (!parent) return std::nullopt;
  return detail::ProcessAccess::alias(std::move(parent));
}

std::vector<Process> active_children() {
  std::vector<Process> out;
  for (auto& st : detail::children_snapshot())
    if (!detail::poll_state(*st)) out.push_back(detail::ProcessAccess::alias(st));
  return out;
}

int cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace pyconc::multiprocessing

std::shared_ptr<pyconc::multiprocessing::detail::ProcessState> pyconc::multiprocessing::detail::parent_state() {
  return tables().parent;
}
