// multiprocessing.Barrier: its state and the pids of the parties inside wait() in a
// segment of its own, under an internal ProcessMutex; waiters sleep on a sequence word
// bumped at every change, and sweep out parties whose process died.
#include "pyconc/multiprocessing/barrier.hpp"

#include <cstring>
#include <string>

#include "pyconc/detail/futex.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/process_target.hpp"

namespace pyconc::multiprocessing {

using pyconc::detail::Deadline;
using detail::ProcessMutex;

namespace {

using BState = detail::BarrierState;

// Locks an internal ProcessMutex; a dead holder left the small state it guards in an
// unknown step, which each caller's sweep repairs.
void lock_internal(ProcessMutex& mutex) noexcept { (void)mutex.lock(); }

std::int32_t* pids_of(const detail::SharedObject<BState>& object) {
  return static_cast<std::int32_t*>(object.extra());
}

void bump(BState& s) noexcept {
  s.seq.fetch_add(1, std::memory_order_release);
  if (s.sleepers > 0) pyconc::detail::futex_wake_all(s.seq, /*shared=*/true);
}

void break_barrier(BState& s) noexcept {
  s.state = BState::broken;
  bump(s);
}

// The last one out of a draining or resetting barrier refills it.
void exit_barrier(BState& s) noexcept {
  if (s.count == 0 && (s.state == BState::draining || s.state == BState::resetting)) {
    s.state = BState::filling;
    bump(s);
  }
}

// Parties whose process died inside wait(): they leave, and break a filling barrier.
void sweep_dead(BState& s, std::int32_t* pids) noexcept {
  const int me = detail::self_pid();
  for (std::uint32_t i = 0; i < s.parties && s.count > 0; ++i) {
    int pid = pids[i];
    if (pid == 0 || pid == me || detail::process_alive(pid)) continue;
    pids[i] = 0;
    --s.count;
    if (s.state == BState::filling) break_barrier(s);
    exit_barrier(s);
  }
}

// Sleeps until the barrier changes (or a slice passed), then relocks and sweeps.
// Returns false when `deadline` passed.
bool wait_change(BState& s, std::int32_t* pids, const Deadline& deadline) {
  std::uint32_t seq = s.seq.load(std::memory_order_relaxed);
  ++s.sleepers;
  s.mutex.unlock();
  bool in_time = detail::shared_wait_slice(s.seq, seq, deadline);
  lock_internal(s.mutex);
  --s.sleepers;
  sweep_dead(s, pids);
  return in_time;
}

class InternalGuard {
 public:
  explicit InternalGuard(BState& s, std::int32_t* pids) : s_(s) {
    if (s.mutex.lock() == ProcessMutex::Acquire::owner_died) sweep_dead(s, pids);
  }
  ~InternalGuard() { s_.mutex.unlock(); }
  InternalGuard(const InternalGuard&) = delete;
  InternalGuard& operator=(const InternalGuard&) = delete;

 private:
  BState& s_;
};

// The count is checked before the segment is made.
std::size_t checked_parties(long long parties) {
  if (parties < 1) throw ValueError("parties must be > 0");
  if (parties > (1 << 20)) throw ValueError("parties must be <= 2**20");
  return static_cast<std::size_t>(parties);
}

}  // namespace

Barrier::Barrier(long long parties, Action action, std::optional<Seconds> timeout)
    : SharedHandle(detail::SharedObject<BState>::create(checked_parties(parties) * sizeof(std::int32_t))) {
  BState& s = *state_;
  s.parties = static_cast<std::uint32_t>(parties);
  if (timeout) {
    s.has_timeout = 1;
    s.timeout = timeout->count();
  }
  if (action != nullptr) {
    // Its module and offset: a spawn or forkserver child maps each module elsewhere.
    detail::CodeAddress where = detail::code_address(reinterpret_cast<const void*>(action));
    if (where.module.size() >= BState::kModuleSize)
      throw ValueError("the path of the module of the barrier's action is longer than " +
                       std::to_string(BState::kModuleSize - 1) + " bytes: '" + where.module + "'");
    std::memcpy(s.action_module, where.module.data(), where.module.size());
    s.action_offset = where.offset;
    s.has_action = 1;
    action_.set(action);
  }
}

// The action in this process: resolved from its module and offset the first time.
Barrier::Action Barrier::action() const {
  if (Action fn = action_.get()) return fn;
  const BState& s = *state_;  // set before any other handle existed; NUL-terminated
  detail::CodeAddress where{std::string(s.action_module, ::strnlen(s.action_module, BState::kModuleSize)),
                            static_cast<std::uintptr_t>(s.action_offset)};
  try {
    action_.set(reinterpret_cast<Action>(detail::resolve_code_address(where)));
  } catch (const ProcessError&) {
    throw ProcessError("the barrier's action lives in '" + where.module + "', which this process has not loaded");
  }
  return action_.get();
}

std::size_t Barrier::wait() {
  const BState& s = *state_;
  return wait_for(s.has_timeout ? std::optional<Seconds>(Seconds(s.timeout)) : std::nullopt);
}

std::size_t Barrier::wait(Seconds timeout) { return wait_for(timeout); }

std::size_t Barrier::wait_for(std::optional<Seconds> timeout) {
  BState& s = *state_;
  std::int32_t* pids = pids_of(state_);
  InternalGuard guard(s, pids);
  while (s.state == BState::draining || s.state == BState::resetting) wait_change(s, pids, Deadline::never());
  if (s.state == BState::broken) throw BrokenBarrierError("barrier is broken");
  // As Python's, the timeout counts from here.
  const Deadline deadline = pyconc::detail::deadline_for(pyconc::detail::TimeoutRule::threading_wait, timeout);
  const std::uint32_t index = s.count++;
  pids[index] = detail::self_pid();
  auto leave = [&] {
    pids[index] = 0;
    --s.count;
    exit_barrier(s);
  };
  if (index + 1 == s.parties) {
    if (s.has_action) {
      try {
        action()();
      } catch (...) {
        break_barrier(s);
        leave();
        throw;
      }
    }
    s.state = BState::draining;
    bump(s);
  } else {
    while (s.state == BState::filling && pids[index] != 0) {
      if (!wait_change(s, pids, deadline) && s.state == BState::filling) {
        break_barrier(s);
        leave();
        throw BrokenBarrierError("barrier wait timed out; the barrier is now broken");
      }
    }
    if (s.state == BState::broken || s.state == BState::resetting) {
      leave();
      throw BrokenBarrierError("barrier was broken or reset while waiting");
    }
  }
  leave();
  return index;
}

void Barrier::reset() {
  BState& s = *state_;
  InternalGuard guard(s, pids_of(state_));
  if (s.count > 0) {
    if (s.state == BState::filling || s.state == BState::broken) s.state = BState::resetting;
  } else {
    s.state = BState::filling;
  }
  bump(s);
}

void Barrier::abort() {
  BState& s = *state_;
  InternalGuard guard(s, pids_of(state_));
  break_barrier(s);
}

std::size_t Barrier::n_waiting() const {
  BState& s = *state_;
  std::int32_t* pids = pids_of(state_);
  InternalGuard guard(s, pids);
  sweep_dead(s, pids);
  return s.state == BState::filling ? s.count : 0;
}

bool Barrier::broken() const {
  BState& s = *state_;
  std::int32_t* pids = pids_of(state_);
  InternalGuard guard(s, pids);
  sweep_dead(s, pids);
  return s.state == BState::broken;
}

}  // namespace pyconc::multiprocessing
