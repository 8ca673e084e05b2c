// An element whose move into a queue can be held up, for the tests of a put in progress
// (test_queue_elements.cpp, test_shutdown_wakeups.cpp).
#pragma once

#include <pyconc/threading.hpp>

#include <atomic>

namespace pyconc_test {

/// Holds up the first move of an armed item into the queue until released.
struct MoveGate {
  std::atomic<bool> armed{true};
  pyconc::threading::Event entered;
  pyconc::threading::Event release;
};

/// put(HeldMove(...)) builds its argument in place, so the first move of an item is
/// the one into the queue: with a gate, that move waits there until the gate releases.
struct HeldMove {
  HeldMove(MoveGate* g, int v) : gate(g), value(v) {}
  HeldMove(HeldMove&& other) noexcept : gate(other.gate), value(other.value) {
    if (gate != nullptr && gate->armed.exchange(false)) {
      gate->entered.set();
      gate->release.wait();
    }
  }
  HeldMove& operator=(HeldMove&&) = default;
  MoveGate* gate;
  int value;
};

}  // namespace pyconc_test
