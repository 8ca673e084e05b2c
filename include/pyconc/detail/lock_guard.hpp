// An annotated scoped lock for pyconc's internal mutexes (libstdc++'s std::scoped_lock
// carries no thread-safety annotations, so clang's analysis cannot follow it).
#pragma once

#include "pyconc/detail/annotations.hpp"

namespace pyconc::detail {

template <class Mutex>
class PYCONC_SCOPED_CAPABILITY LockGuard {
 public:
  explicit LockGuard(Mutex& m) PYCONC_ACQUIRE(m) : m_(m) { m_.lock(); }
  ~LockGuard() PYCONC_RELEASE() { m_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Mutex& m_;
};

}  // namespace pyconc::detail
