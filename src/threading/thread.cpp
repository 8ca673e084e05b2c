// Threads, the registry of live threads, and the exit-time join of non-daemon threads.
//
//   Thread handle ──shared_ptr──► ThreadState ◄──shared_ptr── Registry::active (while alive)
//        start() ── pthread_create ──► trampoline: publish ids ─► run() ─► unregister ─► done
//
// The registry and the main thread's state are never destroyed, so daemon threads that
// outlive main() never touch freed memory of ours.
#include "pyconc/threading/thread.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/exit_hooks.hpp"
#include "pyconc/detail/futex.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/threading/local.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::detail {

using threading::Lock;
using threading::Thread;

enum class Kind { regular, main, dummy };

struct ThreadState {
  explicit ThreadState(Kind k, std::string n, bool d) : kind(k), name(std::move(n)), daemon(d) {}

  const Kind kind;
  mutable Lock name_mutex;
  std::string name PYCONC_GUARDED_BY(name_mutex);
  std::atomic<bool> daemon;
  std::atomic<bool> started{false};
  std::atomic<std::uint32_t> ready{0};  // futex: the thread has published its ids
  std::atomic<std::uint32_t> done{0};   // futex: run() has returned (or never will run)
  std::atomic<unsigned long> ident{0};
  std::atomic<long> native_id{0};
  detail::UniqueFunction target;  // moved out by the first run()
  Thread* self = nullptr;                 // subclass mode: the object whose run() runs
  std::uint64_t seq = 0;                  // registration order, for enumerate()
};

struct ThreadAccess {
  static Thread alias(std::shared_ptr<ThreadState> st) { return Thread(std::move(st), Thread::AliasTag{}); }
  static const ThreadState* state(const Thread& t) noexcept { return t.state_.get(); }
};

}  // namespace pyconc::detail

namespace pyconc::threading {
namespace {

using detail::Kind;
using detail::ThreadState;
using detail::ThreadAccess;

long gettid_now() noexcept { return static_cast<long>(syscall(SYS_gettid)); }

struct Registry {
  Lock mutex;
  std::map<std::uint64_t, std::shared_ptr<ThreadState>> active PYCONC_GUARDED_BY(mutex);
  std::uint64_t next_seq PYCONC_GUARDED_BY(mutex) = 0;
  std::atomic<std::uint64_t> thread_counter{0};
  std::atomic<std::uint64_t> dummy_counter{0};
  std::atomic<std::size_t> stack_size{0};
  Lock hook_mutex;
  // The installed excepthook. Replaced by swapping the pointer, so a hook is never
  // destroyed under the lock, and a saved copy (ExceptHook's copy) shares it.
  std::shared_ptr<const ExceptHook::Function> hook PYCONC_GUARDED_BY(hook_mutex) =
      std::make_shared<const ExceptHook::Function>(default_excepthook);
  std::map<std::uint64_t, std::function<void()>> exit_hooks PYCONC_GUARDED_BY(hook_mutex);
  std::uint64_t next_exit_hook PYCONC_GUARDED_BY(hook_mutex) = 0;

  void add(const std::shared_ptr<ThreadState>& st) PYCONC_EXCLUDES(mutex) {
    detail::LockGuard guard(mutex);
    st->seq = next_seq++;
    active.emplace(st->seq, st);
  }
  void remove(const ThreadState& st) PYCONC_EXCLUDES(mutex) {
    detail::LockGuard guard(mutex);
    active.erase(st.seq);
  }
};

void join_non_daemon_threads();

// Leaked on purpose: daemon threads may still use it while the program exits. A child
// made by fork() replaces it (after_fork_in_child).
Registry* g_registry = nullptr;
// What a fork child replaced stays reachable (LeakSanitizer would report it otherwise).
void* g_replaced_after_fork[3 * 16] = {};
std::size_t g_replaced_count = 0;
void keep_reachable(void* p) {
  if (g_replaced_count < sizeof g_replaced_after_fork / sizeof g_replaced_after_fork[0])
    g_replaced_after_fork[g_replaced_count++] = p;
}

Registry& registry() {
  static const bool made = [] {
    if (!g_registry) g_registry = new Registry;
    return true;
  }();
  (void)made;
  return *g_registry;
}

// exit() runs atexit functions and static destructors in reverse order of registration,
// so the join is registered as late as possible: at the first start(). Statics built
// before that (globals, function-local statics used so far) are destroyed only after the
// non-daemon threads that may use them have ended, as Python joins before tearing down.
void register_exit_join() {
  static const bool registered = [] {
    std::atexit(join_non_daemon_threads);
    return true;
  }();
  (void)registered;
}

std::shared_ptr<ThreadState>* make_main_state() {
  auto* p = new std::shared_ptr<ThreadState>(std::make_shared<ThreadState>(Kind::main, "MainThread", false));
  (*p)->started = true;
  (*p)->ready = 1;
  (*p)->native_id = static_cast<long>(getpid());
  registry().add(*p);
  return p;
}

std::shared_ptr<ThreadState>* g_main_state = nullptr;
Thread* g_main_alias = nullptr;

std::shared_ptr<ThreadState>& main_state() {
  static const bool made = [] {
    if (!g_main_state) g_main_state = make_main_state();
    return true;
  }();
  (void)made;
  return *g_main_state;
}

// Runs at program start, in the main thread: records its pthread id.
[[maybe_unused]] const bool main_recorded = [] {
  main_state()->ident = static_cast<unsigned long>(pthread_self());
  return true;
}();

// The calling thread's Thread object, once known.
thread_local Thread* tls_current = nullptr;

// Keeps a foreign thread's dummy entry registered until that thread exits.
struct DummyHolder {
  std::shared_ptr<ThreadState> state;
  std::unique_ptr<Thread> alias;
  ~DummyHolder() {
    if (state) {
      registry().remove(*state);
      state->done.store(1, std::memory_order_release);
    }
    tls_current = nullptr;
  }
};
thread_local DummyHolder tls_dummy;

void wait_done(ThreadState& st, const detail::Deadline& deadline) {
  while (st.done.load(std::memory_order_acquire) == 0) {
    if (!detail::futex_wait(st.done, 0, deadline)) break;
  }
}

void join_non_daemon_threads() {
  Registry& reg = registry();
  for (;;) {  // exit hooks first (they may be added while others run)
    std::function<void()> hook;
    {
      detail::LockGuard guard(reg.hook_mutex);
      if (reg.exit_hooks.empty()) break;
      auto last = std::prev(reg.exit_hooks.end());
      hook = std::move(last->second);
      reg.exit_hooks.erase(last);
    }
    try {
      hook();
    } catch (...) {
      std::string text = "Exception in an exit hook: " + describe_exception(std::current_exception()) + "\n";
      std::fputs(text.c_str(), stderr);
    }
  }
  for (;;) {
    std::shared_ptr<ThreadState> next;
    {
      detail::LockGuard guard(reg.mutex);
      for (auto& [seq, st] : reg.active) {
        if (st->kind == Kind::regular && !st->daemon.load() && st.get() != tls_dummy.state.get() &&
            (tls_current == nullptr || ThreadAccess::state(*tls_current) != st.get())) {
          next = st;
          break;
        }
      }
    }
    if (!next) return;
    wait_done(*next, detail::Deadline::never());
    reg.remove(*next);  // normally done by the thread itself already
  }
}

void report_exception(std::exception_ptr error, Thread* thread) {
  ExceptHookArgs args{error, exception_type_name(error), thread};
  try {
    excepthook(args);
  } catch (...) {
    std::string text = "Exception in threading.excepthook:\n" + describe_exception(std::current_exception()) + "\n";
    std::fputs(text.c_str(), stderr);
  }
}

void* trampoline(void* arg) {
  std::shared_ptr<ThreadState> st = std::move(*static_cast<std::shared_ptr<ThreadState>*>(arg));
  delete static_cast<std::shared_ptr<ThreadState>*>(arg);
  st->native_id.store(gettid_now(), std::memory_order_relaxed);
  st->ident.store(static_cast<unsigned long>(pthread_self()), std::memory_order_relaxed);
  {
    Thread alias = ThreadAccess::alias(st);
    tls_current = st->self ? st->self : &alias;
    st->ready.store(1, std::memory_order_release);
    detail::futex_wake_all(st->ready);
    try {
      if (st->self) {
        st->self->run();
      } else if (st->target) {
        auto target = std::move(st->target);
        target();
      }
    } catch (...) {
      report_exception(std::current_exception(), tls_current);
    }
    detail::release_thread_locals();  // as Python, before join() sees the thread end
    tls_current = nullptr;
  }
  registry().remove(*st);
  st->done.store(1, std::memory_order_release);
  detail::futex_wake_all(st->done);
  return nullptr;
}

}  // namespace

// ---- Thread -----------------------------------------------------------------------------

Thread::Thread() : Thread(ThreadOptions{}) {}

Thread::Thread(ThreadOptions options) { init(std::move(options), {}); }

void Thread::init(ThreadOptions options, detail::UniqueFunction target) {
  std::string name = options.name ? std::move(*options.name)
                                  : "Thread-" + std::to_string(++registry().thread_counter);
  bool daemon = options.daemon ? *options.daemon : current_thread().daemon();
  state_ = std::make_shared<ThreadState>(Kind::regular, std::move(name), daemon);
  state_->target = std::move(target);
}

Thread::Thread(std::shared_ptr<ThreadState> state, AliasTag) noexcept : state_(std::move(state)), runs_target_(true) {}

ThreadState& Thread::state_ref() const {
  if (!state_) throw RuntimeError("this Thread handle was moved from");
  return *state_;
}

Thread::Thread(Thread&& other) : runs_target_(other.runs_target_) {
  if (other.state_ && other.state_->self == &other && other.is_alive())
    throw RuntimeError("cannot move a started Thread subclass while its run() executes");
  state_ = std::move(other.state_);
}

Thread& Thread::operator=(Thread&& other) {
  if (this == &other) return *this;
  if (other.state_ && other.state_->self == &other && other.is_alive())
    throw RuntimeError("cannot move a started Thread subclass while its run() executes");
  if (state_ && state_->self == this && is_alive())
    throw RuntimeError("cannot overwrite a started Thread subclass while its run() executes");
  state_ = std::move(other.state_);
  runs_target_ = other.runs_target_;
  return *this;
}

Thread::~Thread() {
  // A subclass's run() uses this object: wait for it (not from inside run() itself).
  if (state_ && state_->self == this && tls_current != this) wait_done(*state_, detail::Deadline::never());
}

void Thread::start() {
  ThreadState& st = state_ref();
  if (st.started.exchange(true)) throw RuntimeError("threads can only be started once");
  if (!runs_target_ && typeid(*this) != typeid(Thread)) st.self = this;
  register_exit_join();
  registry().add(state_);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (std::size_t size = registry().stack_size.load()) pthread_attr_setstacksize(&attr, size);
  auto* arg = new std::shared_ptr<ThreadState>(state_);
  pthread_t tid;
  int rc = pthread_create(&tid, &attr, trampoline, arg);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete arg;
    registry().remove(st);
    st.self = nullptr;
    st.started = false;
    throw RuntimeError(std::string("can't start new thread: ") + std::strerror(rc));
  }
  // As Python's start(): return once the thread runs and its ids are known.
  while (st.ready.load(std::memory_order_acquire) == 0) detail::futex_wait(st.ready, 0);
}

void Thread::run() {
  ThreadState& st = state_ref();
  if (st.target) {
    auto target = std::move(st.target);
    target();
  }
}

void Thread::join() {
  ThreadState& st = state_ref();
  if (!st.started.load()) throw RuntimeError("cannot join thread before it is started");
  if (*this == current_thread()) throw RuntimeError("cannot join current thread");
  if (st.kind == Kind::dummy) throw RuntimeError("cannot join a dummy thread");
  wait_done(st, detail::Deadline::never());
}

bool Thread::join(Seconds timeout) {
  ThreadState& st = state_ref();
  if (!st.started.load()) throw RuntimeError("cannot join thread before it is started");
  if (*this == current_thread()) throw RuntimeError("cannot join current thread");
  if (st.kind == Kind::dummy) throw RuntimeError("cannot join a dummy thread");
  wait_done(st, detail::deadline_for(detail::TimeoutRule::threading_wait, timeout));
  return !is_alive();
}

bool Thread::is_alive() const {
  ThreadState& st = state_ref();
  return st.started.load(std::memory_order_acquire) && st.done.load(std::memory_order_acquire) == 0;
}

std::string Thread::name() const {
  ThreadState& st = state_ref();
  detail::LockGuard guard(st.name_mutex);
  return st.name;
}

void Thread::set_name(std::string name) {
  ThreadState& st = state_ref();
  detail::LockGuard guard(st.name_mutex);
  st.name = std::move(name);
}

std::optional<unsigned long> Thread::ident() const {
  ThreadState& st = state_ref();
  if (!st.started.load()) return std::nullopt;
  return st.ident.load(std::memory_order_relaxed);
}

std::optional<long> Thread::native_id() const {
  ThreadState& st = state_ref();
  if (!st.started.load()) return std::nullopt;
  return st.native_id.load(std::memory_order_relaxed);
}

bool Thread::daemon() const { return state_ref().daemon.load(); }

void Thread::set_daemon(bool daemonic) {
  ThreadState& st = state_ref();
  if (st.started.load()) throw RuntimeError("cannot set daemon status of active thread");
  st.daemon = daemonic;
}

// ---- module functions -------------------------------------------------------------------

Thread& main_thread() {
  static const bool made = [] {
    if (!g_main_alias) g_main_alias = new Thread(ThreadAccess::alias(main_state()));
    return true;
  }();
  (void)made;
  return *g_main_alias;
}

Thread& current_thread() {
  if (tls_current) return *tls_current;
  if (gettid_now() == static_cast<long>(getpid())) return *(tls_current = &main_thread());
  // A thread pyconc did not start: give it a dummy entry for its lifetime.
  auto st = std::make_shared<ThreadState>(Kind::dummy, "Dummy-" + std::to_string(++registry().dummy_counter), true);
  st->started = true;
  st->ready = 1;
  st->ident = static_cast<unsigned long>(pthread_self());
  st->native_id = gettid_now();
  registry().add(st);
  tls_dummy.alias = std::make_unique<Thread>(ThreadAccess::alias(st));
  tls_dummy.state = std::move(st);
  return *(tls_current = tls_dummy.alias.get());
}

std::vector<std::shared_ptr<Thread>> enumerate() {
  Registry& reg = registry();
  std::vector<std::shared_ptr<ThreadState>> states;
  {
    detail::LockGuard guard(reg.mutex);
    states.reserve(reg.active.size());
    for (auto& [seq, st] : reg.active) states.push_back(st);
  }
  std::vector<std::shared_ptr<Thread>> out;
  out.reserve(states.size());
  for (auto& st : states) out.push_back(std::make_shared<Thread>(ThreadAccess::alias(std::move(st))));
  return out;
}

std::size_t active_count() {
  Registry& reg = registry();
  detail::LockGuard guard(reg.mutex);
  return reg.active.size();
}

unsigned long get_ident() noexcept { return static_cast<unsigned long>(pthread_self()); }

long get_native_id() noexcept { return gettid_now(); }

std::size_t stack_size() { return registry().stack_size.load(); }

std::size_t stack_size(long long requested) {
  if (requested < 0) throw ValueError("size must be 0 or a positive value");
  if (requested != 0 && requested < 32768) throw ValueError("size not valid: " + std::to_string(requested) + " bytes");
  auto size = static_cast<std::size_t>(requested);
  if (size != 0) {
    long page = sysconf(_SC_PAGESIZE);
    std::size_t p = page > 0 ? static_cast<std::size_t>(page) : 4096;
    size = (size + p - 1) / p * p;
  }
  return registry().stack_size.exchange(size);
}

// ---- exit hooks -------------------------------------------------------------------------

}  // namespace pyconc::threading

std::uint64_t pyconc::detail::register_exit_hook(std::function<void()> hook) {
  threading::register_exit_join();  // the hooks run from the exit-time join
  auto& reg = threading::registry();
  detail::LockGuard guard(reg.hook_mutex);
  std::uint64_t id = reg.next_exit_hook++;
  reg.exit_hooks.emplace(id, std::move(hook));
  return id;
}

void pyconc::detail::run_exit_handlers() { threading::join_non_daemon_threads(); }

void pyconc::detail::threading_after_fork_in_child() {
  using namespace threading;
  // The parent's other threads do not exist here, and their locks may have been held
  // at fork(): start from fresh state (the old is leaked), keeping the counters.
  Registry* old = g_registry;
  keep_reachable(old);
  keep_reachable(g_main_state);
  keep_reachable(g_main_alias);
  keep_reachable(tls_dummy.alias.get());
  auto* fresh = new Registry;
  if (old) {
    fresh->thread_counter = old->thread_counter.load();
    fresh->dummy_counter = old->dummy_counter.load();
    fresh->stack_size = old->stack_size.load();
    // The installed excepthook stays, as in Python's child; unless a thread that does
    // not exist here held its lock at fork() (then the default is installed).
    if (old->hook_mutex.acquire(false)) {
      detail::LockGuard guard(fresh->hook_mutex);
      fresh->hook = old->hook;
      old->hook_mutex.release();
    }
  }
  g_registry = fresh;
  (void)registry();  // the lazy initialisers must not overwrite what is set here
  tls_dummy.state = nullptr;
  (void)tls_dummy.alias.release();
  tls_current = nullptr;
  g_main_state = make_main_state();
  (*g_main_state)->ident = static_cast<unsigned long>(pthread_self());
  g_main_alias = new Thread(ThreadAccess::alias(*g_main_state));
  (void)main_state();
  (void)main_thread();
}

void pyconc::detail::unregister_exit_hook(std::uint64_t id) {
  auto& reg = threading::registry();
  std::function<void()> doomed;  // destroyed outside the lock
  detail::LockGuard guard(reg.hook_mutex);
  auto it = reg.exit_hooks.find(id);
  if (it != reg.exit_hooks.end()) {
    doomed = std::move(it->second);
    reg.exit_hooks.erase(it);
  }
}

namespace pyconc::threading {

// ---- excepthook -------------------------------------------------------------------------

// Constant-initialised: a static initialiser of another file may use it.
constinit ExceptHook excepthook{pyconc::detail::InstalledExceptHook{}};

namespace {

std::shared_ptr<const ExceptHook::Function> make_hook(ExceptHook::Function hook) {
  if (!hook) hook = default_excepthook;
  return std::make_shared<const ExceptHook::Function>(std::move(hook));
}

}  // namespace

ExceptHook::ExceptHook() : saved_(make_hook(nullptr)) {}

ExceptHook::ExceptHook(Function hook) : saved_(make_hook(std::move(hook))) {}

ExceptHook::ExceptHook(const ExceptHook& other) : saved_(other.current()) {}

ExceptHook& ExceptHook::operator=(const ExceptHook& other) {
  std::shared_ptr<const Function> hook = other.current();
  if (saved_) saved_ = std::move(hook);
  else install(std::move(hook));
  return *this;
}

ExceptHook& ExceptHook::operator=(Function hook) {
  std::shared_ptr<const Function> made = make_hook(std::move(hook));
  if (saved_) saved_ = std::move(made);
  else install(std::move(made));
  return *this;
}

void ExceptHook::operator()(const ExceptHookArgs& args) const {
  std::shared_ptr<const Function> hook = current();
  (*hook)(args);
}

std::shared_ptr<const ExceptHook::Function> ExceptHook::current() const {
  if (saved_) return saved_;
  Registry& reg = registry();
  detail::LockGuard guard(reg.hook_mutex);
  return reg.hook;
}

void ExceptHook::install(std::shared_ptr<const Function> hook) {
  Registry& reg = registry();
  {
    detail::LockGuard guard(reg.hook_mutex);
    reg.hook.swap(hook);
  }
  // `hook` now holds the replaced one, released here, outside the lock.
}

void default_excepthook(const ExceptHookArgs& args) {
  std::string name = args.thread ? args.thread->name() : std::to_string(get_ident());
  std::string text = "Exception in thread " + name + ":\n" + describe_exception(args.exc_value) + "\n";
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace pyconc::threading
