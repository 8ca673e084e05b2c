// The work queue of ThreadPoolExecutor: an unbounded FIFO with a wake-up policy made
// for a pool, so that a stream of submissions costs no system call.
//
//   submit ──► store ──► a spinning worker polls it and takes the item (no syscall)
//     │ nobody spinning and somebody asleep: wake exactly that one (its own futex)
//     ▼
//   idle worker: poll the store a while as a "spinner", then sleep in the idle list
//
// Rule: while a worker spins, submit() wakes nobody; a spinner that finds work and
// was the last one spinning wakes a sleeper to take over the watch. So there is always
// either a spinner that will see a new item, or the submitter wakes a sleeper itself:
// an idle worker never sleeps while work waits (Python's pool: an idle worker takes a
// new task at once). A queue.Queue would wake a sleeper on every put instead: that was
// one system call per task, and a context switch or two.
#pragma once

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/futex.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/detail/ring_store.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::futures::detail {

template <class T>
class WorkQueue {
 public:
  /// A worker's parking place: its own futex word, so a wake-up reaches exactly the
  /// worker it was meant for, and that worker knows it was woken (not a spurious return).
  struct Parker {
    std::atomic<std::uint32_t> woken{0};
  };

  /// A parker for a new worker. It lives as long as the queue: a waker may still make
  /// its futex call after the worker has left.
  Parker& add_parker() PYCONC_EXCLUDES(idle_lock_) {
    pyconc::detail::LockGuard guard(idle_lock_);
    idle_.reserve(parkers_.size() + 1);  // parking never allocates (nor fails for memory)
    return parkers_.emplace_back();
  }

  /// Appends `item`; wakes a sleeping worker unless one is spinning. Never blocks.
  void put(T item) {
    store_.try_push(std::move(item));  // unbounded and never closed: always ok
    // A full fence, then a plain read of the counts: a worker that announces its sleep
    // does the same (its read-modify-write, a fence, then its re-check of the store; see
    // sleep()), so either we see it asleep or it sees our item. The fence is a locked
    // instruction on this thread's own stack; a read-modify-write of control_ instead
    // pulled that line, which the workers write on every idle turn, to this thread in
    // exclusive state on every submit: ~80% of submit()'s time in thread_pool_submit.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    wake_one_if_unwatched(control_.load(std::memory_order_relaxed));
  }

  /// Takes an item without waiting.
  std::optional<T> try_get() {
    std::optional<T> out;
    store_.try_pop(out);
    return out;
  }

  /// Takes the next item, spinning, then sleeping on `me` while there is none.
  T get(Parker& me) {
    std::optional<T> out;
    if (store_.try_pop(out) == pyconc::detail::PopResult::ok) return std::move(*out);
    control_.fetch_add(kSpinner, std::memory_order_seq_cst);
    for (;;) {
      // As a spinner: poll after kFirstPause pauses, then twice that, then every
      // kMaxPause, yielding the CPU every kYieldEvery pauses or so.
      int pause = kFirstPause, since_yield = 0;
      for (int spent = 0; spent < kSpins; spent += pause, pause = std::min(2 * pause, kMaxPause)) {
        for (int i = 0; i < pause; ++i) pyconc::detail::cpu_relax();
        if (store_.try_pop(out) == pyconc::detail::PopResult::ok) {
          stop_spinning();
          return std::move(*out);
        }
        if ((since_yield += pause) >= kYieldEvery) {
          ::sched_yield();
          since_yield = 0;
        }
      }
      // Nothing came: sleep. On return we are a spinner again (the waker counted us).
      if (sleep(me, out)) return std::move(*out);
    }
  }

 private:
  static constexpr std::uint64_t kSpinner = 1;
  static constexpr std::uint64_t kSleeper = std::uint64_t{1} << 32;
  // About 20-50 µs of polling (in pauses): longer than the gap between submissions of
  // a busy submitter, much shorter than a scheduler tick.
  static constexpr int kSpins = 4096;
  // A poller looks at the queue after kFirstPause pauses (~1 µs), then twice that, then
  // every kMaxPause: each look pulls the queue's tail line away from the submitter, who
  // then waits for it on its next submit; with a look every pause, that was most of
  // submit()'s time (thread_pool_submit: 2.1M tasks/s with a look every pause, 2.5M
  // every 32-128 pauses, 3.0M every 64-256).
  static constexpr int kFirstPause = 64;
  static constexpr int kMaxPause = 256;
  // A poller yields the CPU after about this many pauses: when threads outnumber cores
  // (2 workers and a submitter on 2 cores), a poller must not take half a core from
  // the submitter.
  static constexpr int kYieldEvery = 64;

  static std::uint32_t spinners(std::uint64_t c) noexcept { return static_cast<std::uint32_t>(c); }
  static std::uint32_t sleepers(std::uint64_t c) noexcept { return static_cast<std::uint32_t>(c >> 32); }

  // With counts `c`: nobody spins while somebody sleeps, so a new item would wait
  // unseen: wake a sleeper.
  void wake_one_if_unwatched(std::uint64_t c) {
    if (spinners(c) == 0 && sleepers(c) != 0) wake_one();
  }

  // A spinner found work: if it was the last one watching, hand the watch on.
  void stop_spinning() {
    std::uint64_t c = control_.fetch_sub(kSpinner, std::memory_order_seq_cst);
    if (spinners(c) == 1 && sleepers(c) != 0) wake_one();
  }

  // Turns one sleeper into a spinner and wakes it.
  void wake_one() PYCONC_EXCLUDES(idle_lock_) {
    Parker* p;
    {
      pyconc::detail::LockGuard guard(idle_lock_);
      if (idle_.empty()) return;
      p = idle_.back();
      idle_.pop_back();
      control_.fetch_add(kSpinner - kSleeper, std::memory_order_seq_cst);
      // Published under the lock: once the worker saw `woken`, it may park again and
      // re-enter idle_, which it can only do after this critical section.
      p->woken.store(1, std::memory_order_release);
    }
    pyconc::detail::futex_wake(p->woken, 1);
  }

  // A spinner goes to sleep. Returns true with `out` filled if it found an item after
  // announcing itself (then it is neither spinner nor sleeper); false once woken (then
  // it counts as a spinner again).
  bool sleep(Parker& me, std::optional<T>& out) PYCONC_EXCLUDES(idle_lock_) {
    {
      pyconc::detail::LockGuard guard(idle_lock_);
      me.woken.store(0, std::memory_order_relaxed);
      idle_.push_back(&me);
      control_.fetch_add(kSleeper - kSpinner, std::memory_order_seq_cst);
    }
    // An item put before our announcement is visible now; one put after it sees us
    // (the fence pairs with put()'s).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (store_.try_pop(out) == pyconc::detail::PopResult::ok) {
      bool claimed;
      std::uint64_t c = 0;
      {
        pyconc::detail::LockGuard guard(idle_lock_);
        auto it = std::find(idle_.begin(), idle_.end(), &me);
        claimed = it == idle_.end();
        if (!claimed) {
          idle_.erase(it);
          c = control_.fetch_sub(kSleeper, std::memory_order_seq_cst) - kSleeper;
        }
      }
      // Claimed: a waker made us a spinner; we found work, so stop spinning as any
      // spinner does (handing the watch on if we were the last). Its futex wake-up
      // is harmless: the next park resets the word first.
      if (claimed) {
        stop_spinning();
      } else {
        // Puts made while we still counted as a spinner woke nobody: they relied on us.
        // We take one item; hand the watch on for the others, as a spinner would.
        wake_one_if_unwatched(c);
      }
      return true;
    }
    while (me.woken.load(std::memory_order_acquire) == 0)
      pyconc::detail::futex_wait(me.woken, 0, pyconc::detail::Deadline::never());
    return false;
  }

  pyconc::detail::RingStore<T> store_{0};  // unbounded
  alignas(64) std::atomic<std::uint64_t> control_{0};  // spinners | sleepers << 32
  threading::Lock idle_lock_;
  std::vector<Parker*> idle_ PYCONC_GUARDED_BY(idle_lock_);
  std::deque<Parker> parkers_ PYCONC_GUARDED_BY(idle_lock_);
};

}  // namespace pyconc::futures::detail
