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
#include "pyconc/multiprocessing/detail/lock_interface.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"
#include "pyconc/pickle/for_loading.hpp"
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
  static_assert(std::is_trivially_copyable_v<T>, "shared ctypes hold trivially copyable types only");

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

/// What Value<T> and Array<T> share: `count` elements of T in shared memory, the
/// optional lock guarding them (get_lock(), the lock's acquire/release and Lockable
/// spellings through LockInterface), the guard that takes it around one access, and
/// pickling (the elements' segment, then the lock: loading attaches to both).
template <class Derived, class T>
class Synchronized : public LockInterface<Derived> {
 public:
  /// The lock guarding it; RuntimeError when made with lock=false.
  AnyLock& get_lock() {
    if (!lock_) throw RuntimeError(std::string("this ") + Derived::kName + " was made with lock=false: it has no get_lock()");
    return *lock_;
  }
  /// Releases the lock (Python's synchronised wrappers have acquire/release too).
  void release() PYCONC_RELEASE() PYCONC_NO_THREAD_SAFETY_ANALYSIS { get_lock().release(); }

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
    if (has_lock) archive(lock_.emplace(pickle::for_loading));
    else lock_.reset();
  }

 protected:
  Synchronized(std::size_t count, LockOption lock) : elements_(count), lock_(make_lock(std::move(lock))) {}
  explicit Synchronized(pickle::for_loading_t) noexcept {}

  /// Holds the lock (when there is one) for one access.
  class Held {
   public:
    explicit Held(const Synchronized& s) PYCONC_NO_THREAD_SAFETY_ANALYSIS
        : lock_(s.lock_ ? const_cast<AnyLock*>(&*s.lock_) : nullptr) {
      if (lock_) lock_->acquire();
    }
    ~Held() PYCONC_NO_THREAD_SAFETY_ANALYSIS {
      if (lock_) lock_->release();
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    AnyLock* lock_;
  };

  SharedElements<T> elements_;
  std::optional<AnyLock> lock_;

 private:
  friend struct LockAccess;
  bool acquire_until(const pyconc::detail::Deadline& deadline) PYCONC_NO_THREAD_SAFETY_ANALYSIS {
    return LockAccess::acquire_until(get_lock(), deadline);
  }
};

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
class RawValue : detail::SharedElements<T> {
  using Elements = detail::SharedElements<T>;

 public:
  explicit RawValue(const T& initial = T{}) : Elements(1) { std::memcpy(Elements::data(), &initial, sizeof(T)); }
  /// An empty handle that load() attaches to an existing value (see pickle::for_loading).
  explicit RawValue(pickle::for_loading_t) noexcept {}

  T value() const noexcept {
    T v;
    std::memcpy(&v, Elements::data(), sizeof(T));
    return v;
  }
  void set_value(const T& v) noexcept { std::memcpy(Elements::data(), &v, sizeof(T)); }
  T& get_obj() const noexcept { return *Elements::data(); }

  // Pickling: the segment's name and the element count (loading attaches).
  using Elements::load;
  using Elements::save;
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
class RawArray : detail::SharedElements<T> {
  using Elements = detail::SharedElements<T>;

 public:
  /// `size` zero-initialised elements (a negative size raises ValueError).
  explicit RawArray(long long size) : Elements(detail::array_length(size)) {}
  RawArray(std::initializer_list<T> values) : RawArray(std::span<const T>(values.begin(), values.size())) {}
  explicit RawArray(std::span<const T> values) : Elements(values.size()) {
    if (!values.empty()) std::memcpy(Elements::data(), values.data(), values.size_bytes());
  }
  RawArray() : RawArray(0LL) {}
  /// An empty handle that load() attaches to an existing array (see pickle::for_loading).
  explicit RawArray(pickle::for_loading_t) noexcept {}

  T& operator[](std::size_t i) const noexcept { return Elements::data()[i]; }
  T& at(std::size_t i) const {
    if (i >= size()) throw IndexError("array index out of range");
    return Elements::data()[i];
  }
  std::size_t size() const noexcept { return Elements::size(); }
  std::span<T> get_obj() const noexcept { return {Elements::data(), Elements::size()}; }
  T* begin() const noexcept { return Elements::data(); }
  T* end() const noexcept { return Elements::data() + Elements::size(); }

  // Pickling: the segment's name and the element count (loading attaches).
  using Elements::load;
  using Elements::save;
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
class Value : public detail::Synchronized<Value<T>, T> {
  using Base = detail::Synchronized<Value<T>, T>;
  using typename Base::Held;
  using Base::elements_;

 public:
  static constexpr const char* kName = "Value";

  explicit Value(const T& initial = T{}, LockOption lock = true) : Base(1, std::move(lock)) {
    std::memcpy(elements_.data(), &initial, sizeof(T));
  }
  /// An empty handle that load() attaches to an existing value and its lock (see
  /// pickle::for_loading).
  explicit Value(pickle::for_loading_t tag) noexcept : Base(tag) {}

  T value() const {
    Held held(*this);
    T v;
    std::memcpy(&v, elements_.data(), sizeof(T));
    return v;
  }
  void set_value(const T& v) {
    Held held(*this);
    std::memcpy(elements_.data(), &v, sizeof(T));
  }
  /// The shared T itself, unsynchronised (Python's get_obj()).
  T& get_obj() const noexcept { return *elements_.data(); }

  // get_lock(), acquire(...), release(), lock(), unlock(), try_lock*(), pickling:
  // detail::Synchronized.
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
class Array : public detail::Synchronized<Array<T>, T> {
  using Base = detail::Synchronized<Array<T>, T>;
  using typename Base::Held;
  using Base::elements_;

 public:
  static constexpr const char* kName = "Array";

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

  explicit Array(long long size, LockOption lock = true) : Base(detail::array_length(size), std::move(lock)) {}
  Array(std::initializer_list<T> values, LockOption lock = true)
      : Array(std::span<const T>(values.begin(), values.size()), std::move(lock)) {}
  explicit Array(std::span<const T> values, LockOption lock = true) : Base(values.size(), std::move(lock)) {
    if (!values.empty()) std::memcpy(elements_.data(), values.data(), values.size_bytes());
  }
  Array() : Array(0LL) {}
  /// An empty handle that load() attaches to an existing array and its lock (see
  /// pickle::for_loading).
  explicit Array(pickle::for_loading_t tag) noexcept : Base(tag) {}

  Item operator[](std::size_t i) const {
    check(i);
    return Item(*this, i);
  }
  T get(std::size_t i) const {
    check(i);
    Held held(*this);
    return elements_.data()[i];
  }
  void set(std::size_t i, const T& v) const {
    check(i);
    Held held(*this);
    elements_.data()[i] = v;
  }
  std::size_t size() const noexcept { return elements_.size(); }
  /// A copy of every element, under the lock (Python's a[:]).
  std::vector<T> list() const {
    Held held(*this);
    return std::vector<T>(elements_.data(), elements_.data() + elements_.size());
  }
  /// Overwrites every element, under the lock (Python's a[:] = values); ValueError
  /// when the sizes differ.
  void assign(std::span<const T> values) const {
    if (values.size() != size()) throw ValueError("can only assign a sequence of the same size");
    Held held(*this);
    if (!values.empty()) std::memcpy(elements_.data(), values.data(), values.size_bytes());
  }
  std::span<T> get_obj() const noexcept { return {elements_.data(), elements_.size()}; }

  // get_lock(), acquire(...), release(), lock(), unlock(), try_lock*(), pickling:
  // detail::Synchronized.

 private:
  void check(std::size_t i) const {
    if (i >= size()) throw IndexError("array index out of range");
  }
};

}  // namespace pyconc::multiprocessing
