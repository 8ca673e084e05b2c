// What pyconc's own tests may do with a multiprocessing queue beyond its public API:
// reach the raw bytes of its shared-memory ring (to scribble corruption into).
#pragma once

#include <cstddef>

#include "pyconc/multiprocessing/detail/queue_core.hpp"
#include "pyconc/multiprocessing/queues.hpp"

namespace pyconc::multiprocessing::detail {

/// The narrow door to a Queue's or JoinableQueue's internals.
struct QueueAccess {
  /// The first byte of the queue's ring.
  template <class T, QueueCore::Kind K>
  static std::byte* ring(const BasicProcessQueue<T, K>& q) noexcept {
    return static_cast<const QueueCore&>(q.state_).ring_;
  }
};

}  // namespace pyconc::multiprocessing::detail
