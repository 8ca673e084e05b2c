// threading.Timer: call a function after an interval, unless cancelled.
#pragma once

#include <concepts>
#include <memory>
#include <type_traits>

#include "pyconc/errors.hpp"
#include "pyconc/threading/event.hpp"
#include "pyconc/threading/thread.hpp"

namespace pyconc::threading {

/// A thread that calls `function(args...)` after `interval`, unless cancel() came first
/// (Python's threading.Timer).
///
///     threading::Timer t(30s, [] { std::puts("hello, world"); });
///     t.start();      // after 30 seconds, "hello, world" is printed
///     t.cancel();     // ... unless cancelled before
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: as Thread's.
///
/// Differences from Python: none; like Python's it is a Thread (join, name, daemon).
/// The timer's thread does not use the Timer object, so dropping or moving a started
/// Timer is safe.
class Timer : public Thread {
 public:
  template <class F, class... Args>
    requires std::invocable<std::decay_t<F>, std::decay_t<Args>...>
  Timer(Seconds interval, F&& function, Args&&... args)
      : Timer(std::make_shared<Event>(), interval,
              detail::bind_once(std::forward<F>(function), std::forward<Args>(args)...)) {}

  /// Stops the timer if it is still waiting; no effect once the function runs.
  /// RuntimeError on a moved-from Timer, as every Thread member.
  void cancel() {
    if (!finished_) throw RuntimeError("this Timer handle was moved from");
    finished_->set();
  }

 private:
  template <class Call>
  Timer(std::shared_ptr<Event> finished, Seconds interval, Call call)
      : Thread(RunsTarget{}, ThreadOptions{},
               [finished, interval, call = std::move(call)]() mutable {
                 finished->wait(interval);
                 if (!finished->is_set()) (void)call();
                 finished->set();
               }),
        finished_(std::move(finished)) {}

  std::shared_ptr<Event> finished_;
};

}  // namespace pyconc::threading
