// threading.Thread and the module-level thread functions.
#pragma once

#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "pyconc/detail/unique_function.hpp"
#include "pyconc/threading/timeout.hpp"

namespace pyconc::detail {
struct ThreadState;
struct ThreadAccess;
/// Tag of threading::excepthook's constructor (the installed hook, not a saved one).
struct InstalledExceptHook {};
}  // namespace pyconc::detail

namespace pyconc::threading {

/// Thread's keyword options (Python: Thread(name=..., daemon=...)).
struct ThreadOptions {
  /// Default "Thread-N", N counting up from 1 per program.
  std::optional<std::string> name;
  /// Default: the daemon flag of the thread that creates this one.
  std::optional<bool> daemon;
};

/// A thread of execution (Python's threading.Thread): give it a target and arguments, or
/// derive from it and override run(); start() runs it, join() waits for it.
///
///     void worker(int n) { std::printf("%s: %d\n", threading::current_thread().name().c_str(), n); }
///     threading::Thread t(worker, 1);              // Thread(target=worker, args=(1,))
///     threading::Thread d({.name = "bg", .daemon = true}, worker, 2);
///     t.start();
///     t.join();
///
/// The target and arguments are decay-copied into the thread, as std::thread does (use
/// std::ref to share). An exception escaping the target goes to threading::excepthook
/// (by default printed as "Exception in thread NAME:"); the process goes on.
///
/// Lifetime: as in Python, the thread does not depend on the handle. Destroying or
/// moving a started Thread does not stop, join or detach anything; a non-daemon thread
/// is joined when the program exits normally (main returns or exit() is called), a
/// daemon thread is abandoned then. A *subclass* whose run() executes uses the object:
/// its destructor joins the thread and a started subclass object cannot be moved
/// (RuntimeError) — join() it before its own members are destroyed.
///
/// Errors (RuntimeError, as Python's): start() twice; join() before start() or of the
/// calling thread itself; set_daemon() after start(); any call on a moved-from handle.
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: everything before start() is visible to the thread; everything the
/// thread did is visible after a join() that saw it finish (or is_alive() == false).
///
/// Differences from Python: ident() and native_id() return std::optional (None before
/// start). Python appends the target's name to default names ("Thread-1 (worker)"); C++
/// has no function names at run time, so names are "Thread-N". Movable, not copyable.
class Thread {
 public:
  /// For subclasses that override run().
  Thread();
  explicit Thread(ThreadOptions options);

  /// Thread(target=f, args=(args...)).
  template <class F, class... Args>
    requires(!std::same_as<std::decay_t<F>, ThreadOptions> &&
             std::invocable<std::decay_t<F>, std::decay_t<Args>...>)
  explicit Thread(F&& target, Args&&... args)
      : Thread(ThreadOptions{}, std::forward<F>(target), std::forward<Args>(args)...) {}

  /// Thread(target=f, args=(args...), name=..., daemon=...).
  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  Thread(ThreadOptions options, F&& target, Args&&... args) {
    init(std::move(options), [call = detail::bind_once(std::forward<F>(target),
                                                               std::forward<Args>(args)...)]() mutable {
      (void)call();
    });
  }

  Thread(Thread&& other);
  Thread& operator=(Thread&& other);
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  virtual ~Thread();

  /// Starts the thread; returns once it runs. RuntimeError if started before.
  void start();
  /// The thread's activity: calls the target (once). Override it in a subclass.
  virtual void run();
  /// Waits until the thread has finished.
  void join();
  /// Waits at most `timeout` (negative: not at all); true when the thread has finished
  /// (Python returns None: check is_alive()).
  bool join(Seconds timeout);
  /// From just before run() starts until just after it ends.
  bool is_alive() const;

  std::string name() const;
  void set_name(std::string name);
  /// pthread_self() of the thread as an integer (Python: threading.get_ident()); nullopt
  /// before start. May be reused by a later thread once this one has ended.
  std::optional<unsigned long> ident() const;
  /// The kernel's thread id (gettid()); nullopt before start.
  std::optional<long> native_id() const;
  bool daemon() const;
  /// RuntimeError once started.
  void set_daemon(bool daemonic);

  /// The same thread (Python's `is`).
  friend bool operator==(const Thread& a, const Thread& b) noexcept { return a.state_ == b.state_; }

 protected:
  struct RunsTarget {};
  /// For subclasses that only wrap a target (Timer): the object is not used by the
  /// running thread, so it may be moved or dropped freely.
  template <class F>
  Thread(RunsTarget, ThreadOptions options, F&& target) {
    init(std::move(options), std::forward<F>(target));
    runs_target_ = true;
  }

 private:
  friend struct detail::ThreadAccess;
  struct AliasTag {};
  // Another handle to an existing thread (current_thread(), enumerate(), ...).
  Thread(std::shared_ptr<detail::ThreadState> state, AliasTag) noexcept;
  void init(ThreadOptions options, detail::UniqueFunction target);
  detail::ThreadState& state_ref() const;

  std::shared_ptr<detail::ThreadState> state_;
  bool runs_target_ = false;
};

/// The Thread object of the calling thread. For threads pyconc did not start (e.g. a
/// std::thread) a "dummy" entry named "Dummy-N" is made, daemonic and not joinable, as
/// Python does; it lives until that thread ends. The reference is valid while the
/// calling thread runs.
Thread& current_thread();
/// The main thread's Thread object ("MainThread"); valid for the whole program.
Thread& main_thread();
/// Handles to all alive threads: main, started threads not yet finished, dummies.
std::vector<std::shared_ptr<Thread>> enumerate();
/// The number of threads enumerate() would return.
std::size_t active_count();
/// pthread_self() of the calling thread, as an integer.
unsigned long get_ident() noexcept;
/// The kernel thread id (gettid()) of the calling thread.
long get_native_id() noexcept;
/// The stack size for threads started from now on (0: the system default).
std::size_t stack_size();
/// Sets it; returns the previous one. 0 or at least 32 KiB, else ValueError (a negative
/// size too, as Python's).
std::size_t stack_size(long long size);

/// What threading::excepthook receives (Python's ExceptHookArgs).
struct ExceptHookArgs {
  std::exception_ptr exc_value;
  /// Python's exc_type, as a name ("ValueError", "std::out_of_range").
  std::string exc_type;
  /// The thread that raised; valid during the call; may be null.
  Thread* thread = nullptr;
};

/// The hook called for an exception that escapes Thread::run() (Python's
/// threading.excepthook), or a hook saved from it.
///
/// `threading::excepthook` is the installed hook: assign any callable taking
/// `const ExceptHookArgs&` to replace it (an empty function installs
/// default_excepthook), and call it like a function. A copy of it is a saved hook: the
/// hook installed at the moment of the copy, as Python's `old = threading.excepthook`
/// is the function object itself. So Python's save-and-restore works as written:
///
///     auto old = threading::excepthook;            // the hook installed now
///     threading::excepthook = [old](const threading::ExceptHookArgs& a) {
///       log(a.exc_type);
///       old(a);                                    // chains to the saved hook
///     };
///     ...
///     threading::excepthook = old;                 // restores it
///
/// A saved hook keeps calling what it saved when excepthook is replaced later; assigned
/// to threading::excepthook it installs that. `ExceptHook::Function f =
/// threading::excepthook;` saves the installed hook too.
///
/// Thread safety: threading::excepthook may be copied, replaced and called from any
/// thread at once. A saved hook is a value, like a std::function: calling it from
/// several threads is safe when the function it holds is; assigning to it is not.
///
/// Differences from Python: none in use; the type is pyconc's (Python's hook is a
/// plain function).
class ExceptHook {
 public:
  using Function = std::function<void(const ExceptHookArgs&)>;

  /// A saved hook holding default_excepthook.
  ExceptHook();
  /// A saved hook holding `hook` (default_excepthook when empty).
  explicit ExceptHook(Function hook);
  /// The hook `other` stands for now: copying threading::excepthook saves the hook
  /// installed at this moment.
  ExceptHook(const ExceptHook& other);
  /// Into threading::excepthook: installs the hook `other` stands for. Into a saved
  /// hook: replaces what it holds.
  ExceptHook& operator=(const ExceptHook& other);
  /// As above, from a function (empty: default_excepthook).
  ExceptHook& operator=(Function hook);
  /// Calls the hook this stands for.
  void operator()(const ExceptHookArgs& args) const;

  /// threading::excepthook itself (constant-initialised, so usable by static
  /// initialisers of other files).
  explicit constexpr ExceptHook(pyconc::detail::InstalledExceptHook) noexcept {}

 private:
  std::shared_ptr<const Function> current() const;
  static void install(std::shared_ptr<const Function> hook);

  // The saved hook; null in threading::excepthook, which reads the installed one.
  std::shared_ptr<const Function> saved_;
};
/// The installed hook (Python's threading.excepthook).
extern ExceptHook excepthook;
/// The original hook (Python's threading.__excepthook__): prints
/// "Exception in thread NAME:" and "TYPE: message" to stderr.
void default_excepthook(const ExceptHookArgs& args);

}  // namespace pyconc::threading
