#include "pyconc/multiprocessing/shared_memory.hpp"

#include <sys/mman.h>

#include <cerrno>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/detail/resource_tracker.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::multiprocessing::shared_memory {

using multiprocessing::detail::SharedSegment;
using pyconc::detail::LockGuard;

struct SharedMemory::State {
  std::string name;
  std::size_t size = 0;
  threading::Lock lock;
  std::shared_ptr<SharedSegment> segment PYCONC_GUARDED_BY(lock);
};

SharedMemory::SharedMemory(SharedMemoryOptions options) {
  if (options.size < 0) throw ValueError("'size' must be a positive integer");
  if (options.create && options.size == 0) throw ValueError("'size' must be a positive number different from zero");
  if (!options.create && options.name.empty()) throw ValueError("'name' can only be empty if create=true");
  auto state = std::make_shared<State>();
  std::shared_ptr<SharedSegment> segment;
  if (options.create) {
    segment = SharedSegment::create(static_cast<std::size_t>(options.size),
                                    SharedSegment::CreateOptions{.name = options.name, .unlink_on_drop = false});
    // create() registered the name as pyconc's own; re-register it as user memory (a
    // warning if it is left at family exit), or take it off when not tracked.
    if (options.track)
      detail::track_segment(segment->name(), detail::TrackKind::shared_memory);
    else
      detail::untrack_segment(segment->name());
  } else {
    segment = SharedSegment::open(options.name);
  }
  state->name = segment->name();
  state->size = segment->size();
  {
    LockGuard guard(state->lock);
    state->segment = std::move(segment);
  }
  state_ = std::move(state);
}

namespace {
[[noreturn]] void no_object() { throw ValueError("SharedMemory handle refers to no shared memory"); }
}  // namespace

const std::string& SharedMemory::name() const {
  if (!state_) no_object();
  return state_->name;
}

std::span<std::byte> SharedMemory::buf() const {
  if (!state_) no_object();
  LockGuard guard(state_->lock);
  if (!state_->segment) throw ValueError("operation on a closed SharedMemory '" + state_->name + "'");
  return {static_cast<std::byte*>(state_->segment->data()), state_->segment->size()};
}

std::size_t SharedMemory::size() const {
  if (!state_) no_object();
  return state_->size;
}

void SharedMemory::close() {
  if (!state_) return;
  std::shared_ptr<SharedSegment> segment;
  {
    LockGuard guard(state_->lock);
    segment = std::move(state_->segment);
  }
  // munmap here, outside the lock (SharedSegment's destructor; it never unlinks: made
  // without unlink_on_drop).
}

void SharedMemory::unlink() {
  if (!state_) no_object();
  // The name, not the mapping: works after close() too, and in any process.
  if (::shm_unlink(("/" + state_->name).c_str()) != 0)
    raise_os_error(errno, "cannot unlink shared memory '" + state_->name + "'");
  detail::untrack_segment(state_->name);
}

}  // namespace pyconc::multiprocessing::shared_memory
