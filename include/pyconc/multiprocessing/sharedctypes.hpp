// multiprocessing's shared ctypes: Value<T>, Array<T> (synchronised by a lock) and
// RawValue<T>, RawArray<T> (not), in shared memory that child processes see.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"
#include "pyconc/multiprocessing/rlock.hpp"

namespace pyconc::multiprocessing {

/// Python's `lock=` argument of Value and Array: true (a new RLock, the default),
/// false (no lock: get_lock() raises), or a Lock/RLock to use.
using LockOption = std::variant<bool, Lock, RLock>;

namespace detail {

/// An array length as Python checks it: a negative count is a ValueError (ctypes'
/// message), never a size that wrapped around.
inline std::size_t array_length(long long size) {
  if (size < 0) throw ValueError("Array length must be >= 0, not " + std::to_string(size));
  return static_cast<std::size_t>(size);
}

/// `count` elements of T in a segment of their own (at least one byte).
template <class T>
class SharedElements {
  static std::size_t checked_bytes(std::size_t count) {
    if (count > std::numeric_limits<std::size_t>::max() / sizeof(T))
      throw OverflowError("too many elements for a shared array");
    return count * sizeof(T);
  }

 public:
  SharedElements() = default;
  explicit SharedElements(std::size_t count)
      : segment_(SharedSegment::create(std::max<std::size_t>(1, checked_bytes(count)))), count_(count) {}
  T* data() const noexcept { return static_cast<T*>(segment_->data()); }
  std::size_t size() const noexcept { return count_; }

  template <class Archive>
  void save(Archive& archive) const {
    archive(segment_->name(), static_cast<std::uint64_t>(count_));
  }
  template <class Archive>
  void load(Archive& archive) {
    std::string name;
    std::uint64_t count = 0;
    archive(name, count);
    auto segment = SharedSegment::open(name);
    if (count > segment->size() / (sizeof(T) == 0 ? 1 : sizeof(T)))
      throw ValueError("shared array '" + name + "' is smaller than its pickled length");
    segment_ = std::move(segment);
    count_ = static_cast<std::size_t>(count);
  }

 private:
  std::shared_ptr<SharedSegment> segment_;
  std::size_t count_ = 0;
};

inline std::optional<AnyLock> make_lock(LockOption option) {
  if (auto* flag = std::get_if<bool>(&option)) {
    if (!*flag) return std::nullopt;
    return AnyLock(RLock());
  }
  if (auto* lock = std::get_if<Lock>(&option)) return AnyLock(std::move(*lock));
  return AnyLock(std::get<RLock>(std::move(option)));
}

}  // namespace detail

/// A T in shared memory, no lock (Python's multiprocessing.sharedctypes.RawValue).
///
///     multiprocessing::RawValue<double> total(0.0);
///     total.set_value(1.5);           // visible to every process holding the handle
///
/// T must be trivially copyable. Copies are handles to the same value.
///
/// Thread safety: none beyond T's own — concurrent writes race, as in Python (use
/// Value, or your own Lock).
///
/// Memory ordering: none; synchronise through a lock or another primitive.
///
/// Differences from Python: a template over any trivially copyable T instead of a
/// ctypes typecode; `get_obj()` gives a reference to the shared T.
template <class T>
class RawValue {
  static_assert(std::is_trivially_copyable_v<T>, "shared ctypes hold trivially copyable types only");

 public:
  explicit RawValue(const T& initial = T{}) : elements_(1) { std::memcpy(elements_.data(), &initial, sizeof(T)); }

  T value() const noexcept {
    T v;
    std::memcpy(&v, elements_.data(), sizeof(T));
    return v;
  }
  void set_value(const T& v) noexcept { std::memcpy(elements_.data(), &v, sizeof(T)); }
  T& get_obj() const noexcept { return *elements_.data(); }

  template <class Archive>
  void serialize(Archive& archive) {
    archive(elements_);
  }

 private:
  detail::SharedElements<T> elements_;
};

/// An array of T in shared memory, no lock (Python's sharedctypes.RawArray).
///
///     multiprocessing::RawArray<int> a(10);        // ten zeros
///     multiprocessing::RawArray<int> b({1, 2, 3});
///     a[3] = 7;
///
/// Indexing out of range with at() raises IndexError; operator[] does not check.
/// Thread safety and ordering: as RawValue.
template <class T>
class RawArray {
  static_assert(std::is_trivially_copyable_v<T>, "shared ctypes hold trivially copyable types only");

 public:
  /// `size` zero-initialised elements (a negative size raises ValueError).
  explicit RawArray(long long size) : elements_(detail::array_length(size)) {}
  RawArray(std::initializer_list<T> values) : RawArray(std::span<const T>(values.begin(), values.size())) {}
  explicit RawArray(std::span<const T> values) : elements_(values.size()) {
    if (!values.empty()) std::memcpy(elements_.data(), values.data(), values.size_bytes());
  }
  RawArray() : RawArray(std::size_t{0}) {}

  T& operator[](std::size_t i) const noexcept { return elements_.data()[i]; }
  T& at(std::size_t i) const {
    if (i >= size()) throw IndexError("array index out of range");
    return elements_.data()[i];
  }
  std::size_t size() const noexcept { return elements_.size(); }
  std::span<T> get_obj() const noexcept { return {elements_.data(), elements_.size()}; }
  T* begin() const noexcept { return elements_.data(); }
  T* end() const noexcept { return elements_.data() + elements_.size(); }

  template <class Archive>
  void serialize(Archive& archive) {
    archive(elements_);
  }

 private:
  detail::SharedElements<T> elements_;
};

/// A T in shared memory guarded by a lock (Python's multiprocessing.Value with its
/// default lock=True: a synchronised wrapper). value() and set_value() take the lock;
/// a read-modify-write needs it held around both, as in Python:
///
///     multiprocessing::Value<long> counter(0);
///     // in each process:
///     { std::scoped_lock with(counter.get_lock()); counter.set_value(counter.value() + 1); }
///
/// `lock`: true (a new RLock), false (no lock: value()/set_value() do not lock and
/// get_lock() raises RuntimeError), or a given Lock/RLock shared with other objects.
///
/// Thread safety: value(), set_value() are atomic with respect to each other (through
/// the lock); the rest as RawValue. Copies are handles to the same value.
///
/// Memory ordering: that of the lock.
///
/// Differences from Python: a template over a trivially copyable T; with lock=false the
/// type stays Value<T> (Python returns a raw ctypes object without get_lock, so its
/// get_lock() is an AttributeError; ours raises RuntimeError). Lockable (locks the lock).
/// With a Lock (not RLock), value() must not be called while this thread holds it.
template <class T>
class Value {
  static_assert(std::is_trivially_copyable_v<T>, "shared ctypes hold trivially copyable types only");

 public:
  explicit Value(const T& initial = T{}, LockOption lock = true) : elements_(1), lock_(detail::make_lock(std::move(lock))) {
    std::memcpy(elements_.data(), &initial, sizeof(T));
  }

  T value() const {
    Held held(lock_);
    T v;
    std::memcpy(&v, elements_.data(), sizeof(T));
    return v;
  }
  void set_value(const T& v) {
    Held held(lock_);
    std::memcpy(elements_.data(), &v, sizeof(T));
  }
  /// The lock guarding it; RuntimeError when made with lock=false.
  AnyLock& get_lock() {
    if (!lock_) throw RuntimeError("this Value was made with lock=false: it has no get_lock()");
    return *lock_;
  }
  /// The shared T itself, unsynchronised (Python's get_obj()).
  T& get_obj() const noexcept { return *elements_.data(); }

  // The lock's own calls (Python's synchronised wrappers have acquire/release too).
  bool acquire() PYCONC_NO_THREAD_SAFETY_ANALYSIS { return get_lock().acquire(); }
  bool acquire(bool block) PYCONC_NO_THREAD_SAFETY_ANALYSIS { return get_lock().acquire(block); }
  bool acquire(bool block, Seconds timeout) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
    return get_lock().acquire(block, timeout);
  }
  void release() PYCONC_NO_THREAD_SAFETY_ANALYSIS { get_lock().release(); }
  void lock() PYCONC_NO_THREAD_SAFETY_ANALYSIS { get_lock().acquire(); }
  void unlock() PYCONC_NO_THREAD_SAFETY_ANALYSIS { get_lock().release(); }
  bool try_lock() PYCONC_NO_THREAD_SAFETY_ANALYSIS { return get_lock().acquire(false); }

  template <class Archive>
  void save(Archive& archive) const {
    bool has_lock = lock_.has_value();
    archive(elements_, has_lock);
    if (has_lock) archive(*lock_);
  }
  template <class Archive>
  void load(Archive& archive) {
    bool has_lock = false;
    archive(elements_, has_lock);
    if (has_lock) {
      AnyLock lock;
      archive(lock);
      lock_ = std::move(lock);
    } else {
      lock_.reset();
    }
  }

 private:
  struct Held {
    explicit Held(const std::optional<AnyLock>& lock) PYCONC_NO_THREAD_SAFETY_ANALYSIS : lock_(lock ? const_cast<AnyLock*>(&*lock) : nullptr) {
      if (lock_) lock_->acquire();
    }
    ~Held() PYCONC_NO_THREAD_SAFETY_ANALYSIS {
      if (lock_) lock_->release();
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    AnyLock* lock_;
  };
  detail::SharedElements<T> elements_;
  std::optional<AnyLock> lock_;
  template <class>
  friend class Array;
};

/// An array of T in shared memory guarded by a lock (Python's multiprocessing.Array).
/// Element access through operator[] takes the lock for each read or write, as
/// Python's synchronised array does; hold get_lock() around a sequence of accesses.
///
///     multiprocessing::Array<int> a(10);          // ten zeros, new RLock
///     multiprocessing::Array<double> b({1.0, 2.0});
///     a[0] = 5;  int x = a[0];
///     { std::scoped_lock with(a.get_lock()); for (int& v : a.get_obj()) v += 1; }
///
/// Errors: an index out of range raises IndexError; get_lock() with lock=false raises
/// RuntimeError.
///
/// Thread safety, memory ordering: as Value. Copies are handles to the same array.
///
/// Differences from Python: as Value. Slices are `list()` (a[:]) and `assign()`
/// (a[:] = ...); `get_obj()` is a span over the shared elements.
template <class T>
class Array {
  static_assert(std::is_trivially_copyable_v<T>, "shared ctypes hold trivially copyable types only");

 public:
  /// A locked reference to one element: reads and writes take the lock.
  class Item {
   public:
    operator T() const { return array_.get(index_); }  // NOLINT: implicit, as a[i] in Python
    Item& operator=(const T& v) {
      array_.set(index_, v);
      return *this;
    }
    Item& operator=(const Item& other) { return *this = static_cast<T>(other); }
    template <class U>
    Item& operator+=(const U& d) {
      return *this = static_cast<T>(array_.get(index_) + d);
    }
    template <class U>
    Item& operator-=(const U& d) {
      return *this = static_cast<T>(array_.get(index_) - d);
    }

   private:
    friend class Array;
    Item(const Array& array, std::size_t index) : array_(array), index_(index) {}
    const Array& array_;
    std::size_t index_;
  };

  explicit Array(long long size, LockOption lock = true)
      : elements_(detail::array_length(size)), lock_(detail::make_lock(std::move(lock))) {}
  Array(std::initializer_list<T> values, LockOption lock = true)
      : Array(std::span<const T>(values.begin(), values.size()), std::move(lock)) {}
  explicit Array(std::span<const T> values, LockOption lock = true)
      : elements_(values.size()), lock_(detail::make_lock(std::move(lock))) {
    if (!values.empty()) std::memcpy(elements_.data(), values.data(), values.size_bytes());
  }
  Array() : Array(std::size_t{0}) {}

  Item operator[](std::size_t i) const {
    check(i);
    return Item(*this, i);
  }
  T get(std::size_t i) const {
    check(i);
    Held held(lock_);
    return elements_.data()[i];
  }
  void set(std::size_t i, const T& v) const {
    check(i);
    Held held(lock_);
    elements_.data()[i] = v;
  }
  std::size_t size() const noexcept { return elements_.size(); }
  /// A copy of every element, under the lock (Python's a[:]).
  std::vector<T> list() const {
    Held held(lock_);
    return std::vector<T>(elements_.data(), elements_.data() + elements_.size());
  }
  /// Overwrites every element, under the lock (Python's a[:] = values); ValueError
  /// when the sizes differ.
  void assign(std::span<const T> values) const {
    if (values.size() != size()) throw ValueError("can only assign a sequence of the same size");
    Held held(lock_);
    if (!values.empty()) std::memcpy(elements_.data(), values.data(), values.size_bytes());
  }
  AnyLock& get_lock() {
    if (!lock_) throw RuntimeError("this Array was made with lock=false: it has no get_lock()");
    return *lock_;
  }
  std::span<T> get_obj() const noexcept { return {elements_.data(), elements_.size()}; }

  // The lock's own calls (Python's synchronised wrappers have acquire/release too).
  bool acquire() PYCONC_NO_THREAD_SAFETY_ANALYSIS { return get_lock().acquire(); }
  bool acquire(bool block) PYCONC_NO_THREAD_SAFETY_ANALYSIS { return get_lock().acquire(block); }
  bool acquire(bool block, Seconds timeout) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
    return get_lock().acquire(block, timeout);
  }
  void release() PYCONC_NO_THREAD_SAFETY_ANALYSIS { get_lock().release(); }
  void lock() PYCONC_NO_THREAD_SAFETY_ANALYSIS { get_lock().acquire(); }
  void unlock() PYCONC_NO_THREAD_SAFETY_ANALYSIS { get_lock().release(); }
  bool try_lock() PYCONC_NO_THREAD_SAFETY_ANALYSIS { return get_lock().acquire(false); }

  template <class Archive>
  void save(Archive& archive) const {
    bool has_lock = lock_.has_value();
    archive(elements_, has_lock);
    if (has_lock) archive(*lock_);
  }
  template <class Archive>
  void load(Archive& archive) {
    bool has_lock = false;
    archive(elements_, has_lock);
    if (has_lock) {
      AnyLock lock;
      archive(lock);
      lock_ = std::move(lock);
    } else {
      lock_.reset();
    }
  }

 private:
  using Held = typename Value<T>::Held;
  void check(std::size_t i) const {
    if (i >= size()) throw IndexError("array index out of range");
  }
  detail::SharedElements<T> elements_;
  std::optional<AnyLock> lock_;
};

}  // namespace pyconc::multiprocessing
