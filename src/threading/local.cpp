// Per-thread values of threading::local<T>.
//
// Each local<T> owns an Impl holding every thread's value; each thread keeps a cache
// from Impl to its value, whose release() removes the thread's values from the Impls
// that are still alive: called by a pyconc thread before it counts as finished (so
// join() sees them destroyed, as in Python), and at thread exit for every thread.
#include "pyconc/threading/local.hpp"

#include "pyconc/detail/lock_guard.hpp"
#include <unordered_map>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::detail {

namespace {
struct ThreadSlots;
}

struct LocalKey::Impl {
  explicit Impl(std::function<std::shared_ptr<void>()> f) : factory(std::move(f)) {}
  const std::function<std::shared_ptr<void>()> factory;
  threading::Lock mutex;
  std::unordered_map<const void*, std::shared_ptr<void>> values PYCONC_GUARDED_BY(mutex);  // by thread
};

namespace {
struct ThreadSlots {
  struct Entry {
    std::weak_ptr<LocalKey::Impl> owner;
    void* value;
  };
  std::unordered_map<const LocalKey::Impl*, Entry> cache;

  ~ThreadSlots() { release(); }

  void release() {
    // One value at a time, each taken out of the cache before it is destroyed: its
    // destructor may use other locals of this thread (values not yet destroyed are still
    // found; new ones land in the cache and are destroyed in a later round).
    while (!cache.empty()) {
      auto node = cache.extract(cache.begin());
      if (auto impl = node.mapped().owner.lock()) {
        std::shared_ptr<void> doomed;  // destroyed outside the lock
        detail::LockGuard guard(impl->mutex);
        auto it = impl->values.find(this);
        if (it != impl->values.end()) {
          doomed = std::move(it->second);
          impl->values.erase(it);
        }
      }
    }
  }
};
thread_local ThreadSlots tls_slots;
thread_local bool tls_slots_used = false;  // trivial: reading it constructs nothing
}  // namespace

void release_thread_locals() noexcept {
  if (tls_slots_used) tls_slots.release();
}

LocalKey::LocalKey(std::function<std::shared_ptr<void>()> factory)
    : impl_(std::make_shared<Impl>(std::move(factory))) {}

LocalKey::~LocalKey() = default;

void* LocalKey::get() {
  ThreadSlots& slots = tls_slots;
  tls_slots_used = true;
  auto it = slots.cache.find(impl_.get());
  if (it != slots.cache.end() && !it->second.owner.expired()) return it->second.value;
  // First access from this thread (or a stale entry of a dead local at this address).
  std::shared_ptr<void> value = impl_->factory();
  void* raw = value.get();
  {
    detail::LockGuard guard(impl_->mutex);
    impl_->values[&slots] = std::move(value);
  }
  if (slots.cache.size() > 64) {  // drop entries of destroyed locals now and then
    for (auto i = slots.cache.begin(); i != slots.cache.end();)
      i = i->second.owner.expired() ? slots.cache.erase(i) : std::next(i);
  }
  slots.cache[impl_.get()] = ThreadSlots::Entry{impl_, raw};
  return raw;
}

}  // namespace pyconc::detail
