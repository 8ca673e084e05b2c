// The work queue of ThreadPoolExecutor: an unbounded FIFO with a wake-up policy made
// for a pool, so that a stream of submissions costs no system call.
//
//   submit ──► ring (put lock) ──► a polling worker takes the item (no syscall)
//     │ a worker asleep without a wake-up on its way: wake it (seen under the put lock)
//     ▼
//   idle worker: poll the ring with backoff a while, then sleep until a put
//
// The ring (pyconc/detail/ring_store.hpp, unbounded) counts sleeping workers under its
// put lock, which a submit holds anyway: a submit learns whether to wake somebody with
// a plain read, and wakes at most one sleeper per sleep (pending wake-ups are counted).
// A worker woken for a burst polls for ~80 µs before sleeping again, so a steady
// stream of submissions wakes nobody after its first task; an idle worker never sleeps
// while work waits (Python's pool: an idle worker takes a new task at once).
#pragma once

#include <sched.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "pyconc/detail/futex.hpp"
#include "pyconc/detail/ring_store.hpp"

namespace pyconc::futures::detail {

template <class T>
class WorkQueue {
 public:
  /// Appends `item`; wakes a sleeping worker if one sleeps without a wake-up on its
  /// way. Never blocks.
  void put(T item) { store_.try_push(std::move(item)); }  // unbounded and never closed: always ok

  /// Takes an item without waiting.
  std::optional<T> try_get() {
    std::optional<T> out;
    store_.try_pop(out);
    return out;
  }

  /// Takes the next item: polls with backoff while there is none, then sleeps.
  T get() {
    std::optional<T> out;
    bool slept = false;
    for (;;) {
      if (store_.try_pop(out) == pyconc::detail::PopResult::ok) break;
      if (poll(out)) break;
      // Nothing came: sleep. Registered under the put lock, so every later put sees
      // us; an item put before is found by the re-check.
      std::uint32_t key = store_.prepare_get_wait();
      if (store_.try_pop(out) == pyconc::detail::PopResult::ok) {
        store_.cancel_get_wait();
        break;
      }
      store_.get_wait(key, pyconc::detail::Deadline::never());
      slept = true;
    }
    // A worker that slept passes the baton: while more items wait, the next sleeper
    // wakes too, so a burst never leaves sleepers behind work.
    if (slept && store_.size() > 0) store_.wake_getter();
    return std::move(*out);
  }

 private:
  // About 20-80 µs of polling (in pauses): longer than the gap between submissions of
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

  // Polls for an item for about kSpins pauses; true with `out` filled if one came.
  bool poll(std::optional<T>& out) {
    int pause = kFirstPause, since_yield = 0;
    for (int spent = 0; spent < kSpins; spent += pause, pause = std::min(2 * pause, kMaxPause)) {
      for (int i = 0; i < pause; ++i) pyconc::detail::cpu_relax();
      if (store_.try_pop(out) == pyconc::detail::PopResult::ok) return true;
      if ((since_yield += pause) >= kYieldEvery) {
        ::sched_yield();
        since_yield = 0;
      }
    }
    return false;
  }

  pyconc::detail::RingStore<T> store_{0};  // unbounded
};

}  // namespace pyconc::futures::detail
