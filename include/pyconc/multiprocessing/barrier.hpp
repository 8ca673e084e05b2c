// multiprocessing.Barrier: a fixed number of processes (or threads) wait for each other.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "pyconc/multiprocessing/lock.hpp"

namespace pyconc::multiprocessing {

namespace detail {
struct BarrierState {
  static constexpr std::uint32_t kKind = 6;
  enum : std::uint32_t { filling, draining, resetting, broken };
  ProcessMutex mutex;                 // guards the fields below
  std::atomic<std::uint32_t> seq{0};  // bumped at every change waiters look for
  std::uint32_t sleepers = 0;         // waiters asleep on seq
  std::uint32_t parties = 0;
  std::uint32_t state = filling;
  std::uint32_t count = 0;            // parties inside wait()
  std::uint32_t has_timeout = 0;
  std::uint32_t has_action = 0;
  double timeout = 0;                 // the default timeout, when has_timeout
  // The action, when has_action: the module (executable or shared object) it lives in
  // and its offset there (a CodeAddress); each process resolves it when it first runs it.
  static constexpr std::size_t kModuleSize = 1024;  // with the terminating NUL
  std::uint64_t action_offset = 0;
  char action_module[kModuleSize] = {};  // "" is the main program
  // followed by `parties` int32 pids: slot i holds the process of the party with index i
};

/// A Barrier handle's action, resolved in this process (nullptr: not yet). Copies keep
/// it: a copy is in the same process, or in a fork child, where the address still holds.
class ResolvedAction {
 public:
  using Action = void (*)();
  ResolvedAction() = default;
  ResolvedAction(const ResolvedAction& other) noexcept : fn_(other.get()) {}
  ResolvedAction& operator=(const ResolvedAction& other) noexcept {
    fn_.store(other.get(), std::memory_order_relaxed);
    return *this;
  }
  Action get() const noexcept { return fn_.load(std::memory_order_relaxed); }
  void set(Action fn) noexcept { fn_.store(fn, std::memory_order_relaxed); }

 private:
  std::atomic<Action> fn_{nullptr};
};
}  // namespace detail

/// A barrier for `parties` processes or threads (Python's multiprocessing.Barrier):
/// each calls wait(), and all are released together when the last arrives; wait()
/// returns a distinct index in [0, parties). The optional `action` runs in the process
/// of the last to arrive, before the others are released. Reusable.
///
///     multiprocessing::Barrier sync(3);
///     // in each of 3 processes (the handle passed as a Process argument):
///     std::size_t i = sync.wait();
///
/// A wait that times out, an action that throws, abort(), or a party whose process
/// dies while others wait *breaks* the barrier: every waiter, present and future, gets
/// BrokenBarrierError until reset(). A dead party is noticed within about 50 ms.
/// reset() returns it to the empty state (current waiters get BrokenBarrierError).
/// parties < 1 raises ValueError. The action may live in the program or in any shared
/// object it loaded (it is found again in spawn and forkserver children by its module
/// and offset); a module path over 1023 bytes raises ValueError. A process where that
/// module is not loaded cannot run it: the wait() that would raises ProcessError and
/// breaks the barrier.
///
/// Thread safety: every member may be called from any thread of any process holding a
/// handle. Copies are handles to the same barrier.
///
/// Memory ordering: everything each party did before wait() is visible to every party
/// after it returns.
///
/// Differences from Python: `action` is a plain function of the program (a function
/// pointer or a lambda without captures): it must run in whichever process arrives
/// last, so it cannot carry state of one process. A party's death breaks the barrier
/// (Python's waiters would hang until their timeout). parties is at most 2^20.
class Barrier : public detail::ObjectHandle<detail::BarrierState> {
 public:
  using Action = void (*)();

  /// parties < 1 (a negative count too) raises ValueError, as Python's.
  explicit Barrier(long long parties, Action action = nullptr, std::optional<Seconds> timeout = std::nullopt);
  /// A barrier for one party.
  Barrier() : Barrier(1) {}
  /// An empty handle that load() attaches to an existing barrier (see
  /// pickle::for_loading).
  explicit Barrier(pickle::for_loading_t tag) noexcept : SharedHandle(tag) {}

  /// Waits for all parties, at most the constructor's timeout.
  std::size_t wait();
  /// Waits for all parties, at most `timeout`.
  std::size_t wait(Seconds timeout);
  void reset();
  void abort();

  std::size_t parties() const noexcept { return state_->parties; }
  std::size_t n_waiting() const;
  bool broken() const;

  /// Attaches to the barrier the pickle names; its action is resolved here when first run.
  template <class Archive>
  void load(Archive& archive) {
    SharedHandle::load(archive);
    action_.set(nullptr);
  }

 private:
  std::size_t wait_for(std::optional<Seconds> timeout);
  Action action() const;
  mutable detail::ResolvedAction action_;  // resolved on first use
};

}  // namespace pyconc::multiprocessing
