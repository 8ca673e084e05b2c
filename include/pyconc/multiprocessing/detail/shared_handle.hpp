// What every handle to a process-shared object shares: the storage it points to (a
// segment of its own), pickling as the segment's name, the empty handle a load()
// attaches (never creates), and equality.
//
//   parent: Lock() ── creates ──► /dev/shm/pyconc-… ◄── open(name) ── child: Lock(for_loading) + load()
//              └── save(): the name ──────────────────────────────────────┘
#pragma once

#include <string>
#include <utility>

#include "pyconc/multiprocessing/detail/shared_object.hpp"
#include "pyconc/pickle/for_loading.hpp"

namespace pyconc::multiprocessing::detail {

/// The base of the handle classes (Lock, RLock, Semaphore, Event, Barrier, Condition, the
/// queues). `Storage` is copyable (copies share the object), has `name()`, equality, and
/// `static Storage open(const std::string& name)` that attaches to an existing segment:
/// SharedObject<State> for the synchronisation primitives.
template <class Storage>
class SharedHandle {
 public:
  /// Whether `other` is a handle to the same object.
  bool operator==(const SharedHandle& other) const noexcept { return state_ == other.state_; }

  /// Pickling (a Process argument under spawn or forkserver, a queue item): the name of
  /// the segment; loading opens that segment and creates nothing.
  template <class Archive>
  void save(Archive& archive) const {
    archive(state_.name());
  }
  template <class Archive>
  void load(Archive& archive) {
    std::string name;
    archive(name);
    state_ = Storage::open(name);
  }

 protected:
  explicit SharedHandle(Storage state) : state_(std::move(state)) {}
  /// An empty handle, only to be load()ed into (see pickle::for_loading).
  explicit SharedHandle(pyconc::pickle::for_loading_t) noexcept {}

  Storage state_;
};

/// The handle of a SharedObject<State>.
template <class State>
using ObjectHandle = SharedHandle<SharedObject<State>>;

}  // namespace pyconc::multiprocessing::detail
