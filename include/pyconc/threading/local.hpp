// threading.local: a value of which every thread sees its own copy.
#pragma once

#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace pyconc::detail {
/// Type-erased per-thread storage behind local<T>.
class LocalKey {
 public:
  explicit LocalKey(std::function<std::shared_ptr<void>()> factory);
  ~LocalKey();
  LocalKey(const LocalKey&) = delete;
  LocalKey& operator=(const LocalKey&) = delete;
  /// The calling thread's value, made by the factory on first use.
  void* get();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// Destroys the calling thread's values of every local<T>. A pyconc Thread calls it when
/// run() has returned, before the thread counts as finished; other threads' values go
/// at thread exit.
void release_thread_locals() noexcept;
}  // namespace pyconc::detail

namespace pyconc::threading {

/// Thread-local data (Python's threading.local): each thread that touches a local<T>
/// gets its own T, made on that thread's first access from the constructor's
/// arguments (value-initialised when there are none), and destroyed when the thread
/// exits or when the local<T> is destroyed, whichever comes first. A pyconc Thread's
/// values are destroyed before join() sees the thread finished.
///
///     threading::local<std::string> who("nobody");
///     // in any thread:
///     *who = threading::current_thread().name();   // this thread's copy only
///     who->size();
///
/// Unlike C++'s `thread_local`, a local<T> is an object: it can be a member, be created
/// and destroyed at run time, and there can be many of them.
///
/// Thread safety: every member may be called from any thread; each thread's T is used
/// only by that thread (unless it hands out a pointer to it).
///
/// Memory ordering: none across threads; each thread's value is private.
///
/// Differences from Python: Python's local holds attributes added freely; the C++ local
/// holds one T — use a struct for several attributes. When the local<T> is destroyed,
/// the remaining threads' values are destroyed in the destroying thread.
template <class T>
class local {
 public:
  local() : key_([] { return std::shared_ptr<void>(std::make_shared<T>()); }) {}
  template <class... Args>
    requires(sizeof...(Args) > 0 && std::is_constructible_v<T, const Args&...>)
  explicit local(Args... args)
      : key_([args = std::make_tuple(std::move(args)...)] {
          return std::shared_ptr<void>(std::apply([](const auto&... a) { return std::make_shared<T>(a...); }, args));
        }) {}

  local(const local&) = delete;
  local& operator=(const local&) = delete;

  /// This thread's value.
  T& get() { return *static_cast<T*>(key_.get()); }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  detail::LocalKey key_;
};

}  // namespace pyconc::threading
