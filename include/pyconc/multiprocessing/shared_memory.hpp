// multiprocessing.shared_memory: SharedMemory (a named block of memory any process can
// map) and ShareableList<T> (a fixed-length list stored in one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/shareable_list_codec.hpp"

namespace pyconc::multiprocessing::detail {
class SharedSegment;
}

namespace pyconc::multiprocessing::shared_memory {

/// The keyword arguments of Python's SharedMemory(name=None, create=False, size=0,
/// *, track=True).
struct SharedMemoryOptions {
  /// Without leading '/'. Empty stands for Python's None: with `create`, a fresh
  /// unguessable name "pyconc-<family pid>-<16 random hex digits>".
  std::string name;
  bool create = false;
  /// Bytes, with `create` (must be > 0); ignored when attaching (the segment's size is
  /// used), except that a negative size raises ValueError there too, as in Python.
  std::int64_t size = 0;
  /// Register a created name with the family's resource tracker, which unlinks it (with
  /// a warning) if nobody did when the whole family has exited.
  bool track = true;
};

/// A named block of shared memory (Python's multiprocessing.shared_memory.SharedMemory).
///
///     shared_memory::SharedMemory shm({.create = true, .size = 10});
///     std::span<std::byte> buf = shm.buf();
///     buf[0] = std::byte{42};
///     // in another process: SharedMemory other({.name = shm.name()});
///     shm.close();
///     shm.unlink();
///
/// A handle is a reference to one SharedMemory object, as a Python name is: copies are
/// cheap and share it (close() through any copy closes it for all). As an argument of a
/// Process (or through pickle) it travels as its name and the receiver attaches.
///
/// Thread safety: every member may be called from any thread. close() invalidates the
/// spans buf() returned before: do not close while other threads still use them
/// (Python refuses to close while a memoryview is exported; C++ cannot tell).
///
/// Memory ordering: none beyond what the bytes themselves give: two processes sharing
/// the block synchronise through something else (a multiprocessing Lock, Event, Queue,
/// or std::atomic_ref on the bytes).
///
/// Differences from Python: the options struct replaces the keywords. Only the creator
/// registers the name with the resource tracker (Python ≤ 3.12 also registered on
/// attach, so a process that merely attached unlinked the segment at its exit); the
/// tracker is per process family, like Python's. The default name is
/// "pyconc-<family>-<hex>" rather than "psm_<hex>". Closing or dropping never unlinks,
/// as in Python; the creator calls unlink(), or the tracker cleans up at family exit
/// with a warning. Creating more than /dev/shm can hold raises OSError (ENOSPC) at
/// creation instead of SIGBUS at first touch. A default-constructed handle is closed
/// and has no name (used by unpickling).
class SharedMemory {
 public:
  SharedMemory() = default;
  /// Creates (`.create = true`) or attaches (`.name` given). ValueError: create with
  /// size <= 0, a negative size, no name without create, a name with '/'.
  /// FileExistsError: create with a taken name. FileNotFoundError: attach to a missing
  /// name. OSError: the system refused (e.g. ENOSPC when /dev/shm is full).
  explicit SharedMemory(SharedMemoryOptions options);

  /// The name, without leading '/' (as Python reports it).
  const std::string& name() const;
  /// The mapped bytes; ValueError once closed.
  std::span<std::byte> buf() const;
  /// The size in bytes (kept after close, as Python does).
  std::size_t size() const;
  /// Unmaps the block in this process (idempotent); the name stays.
  void close();
  /// Removes the name (processes that mapped it keep their mapping) and takes it off the
  /// resource tracker. FileNotFoundError if the name is already gone.
  void unlink();

  /// Whether this handle refers to an object (false for a default-constructed one).
  explicit operator bool() const noexcept { return state_ != nullptr; }

  /// Pickled as the name; unpickling attaches.
  template <class Archive>
  void save(Archive& archive) const {
    archive(state_ ? name() : std::string());
  }
  template <class Archive>
  void load(Archive& archive) {
    std::string name;
    archive(name);
    if (name.empty()) {
      state_.reset();
      return;
    }
    *this = SharedMemory(SharedMemoryOptions{.name = name});
  }

 private:
  struct State;
  std::shared_ptr<State> state_;
};

/// The keyword arguments of Python's ShareableList(sequence=None, *, name=None).
struct ShareableListOptions {
  /// With a sequence: the name to create (empty: a fresh unguessable one). Without: the
  /// name of the list to attach to.
  std::string name;
};

/// A fixed-length list of T stored in a SharedMemory block, readable and writable by
/// every process that attaches it (Python's multiprocessing.shared_memory.ShareableList).
///
///     shared_memory::ShareableList<double> a{1.5, 2.5, 3.5};
///     // elsewhere: shared_memory::ShareableList<double> b({.name = a.shm().name()});
///     b[0] = 9.0;          // a[0] == 9.0
///     a.index(2.5);        // 1
///     a.shm().close();  a.shm().unlink();
///
/// T is one type (use std::variant<...> for Python's mixed lists): a trivially
/// copyable type (numbers, enums, plain structs: stored as their bytes), std::string
/// (each element gets a capacity fixed at creation: its length rounded up as Python does,
/// 8 * (len / 8 + 1) bytes; assigning a longer string raises ValueError), or a
/// std::variant of those (an index plus a slot big enough for the largest fixed
/// alternative, or for the string the element was created with). Attaching with another
/// T than the creator's raises ValueError.
///
/// Thread safety: the handle may be used from any thread, and copies share one list.
/// The elements are not synchronised (neither are Python's): concurrent writes to one
/// element, or a write concurrent with a read of it, need a multiprocessing Lock.
///
/// Memory ordering: none; use a Lock, Event or Queue between writer and reader.
///
/// Differences from Python: one element type (std::variant for mixed lists), checked on
/// attach; negative indices count from the end as in Python; strings keep any bytes,
/// trailing NULs included (Python's bytes slots lose them); a string assigned into a
/// variant element first created with a number fits only in that slot's payload (Python
/// lets 8 bytes in). `format` is not offered (no struct module). The list is pickled as
/// its name (attached on unpickling); a default-constructed handle is empty (for
/// unpickling). Element access returns copies; `list[i] = v` works through a proxy.
template <class T>
class ShareableList {
  using Codec = detail::shareable_list::Codec<T>;

 public:
  ShareableList() = default;

  /// Creates a list holding `sequence` (ShareableList(sequence, name=...)).
  ShareableList(std::initializer_list<T> sequence, ShareableListOptions options = {})
      : ShareableList(std::vector<T>(sequence), std::move(options)) {}
  explicit ShareableList(const std::vector<T>& sequence, ShareableListOptions options = {}) {
    namespace sl = detail::shareable_list;
    std::size_t n = sequence.size();
    std::size_t data = Codec::fixed ? 64 : sl::round8(sl::kHeaderBytes + (n + 1) * 8);
    std::vector<std::uint64_t> offsets;
    std::size_t end = data;
    if constexpr (Codec::fixed) {
      end = data + n * Codec::fixed_size;
    } else {
      offsets.reserve(n + 1);
      for (const T& v : sequence) {
        offsets.push_back(end);
        end += Codec::need(v);
      }
      offsets.push_back(end);
    }
    shm_ = SharedMemory({.name = std::move(options.name), .create = true, .size = static_cast<std::int64_t>(end)});
    std::byte* base = shm_.buf().data();
    std::uint64_t header[4] = {sl::kMagic, Codec::signature, n, data};
    std::memcpy(base, header, sizeof header);
    if (!offsets.empty()) std::memcpy(base + sl::kHeaderBytes, offsets.data(), offsets.size() * 8);
    length_ = n;
    for (std::size_t i = 0; i < n; ++i) {
      auto [slot, capacity] = locate(base, end, i);
      Codec::write(slot, capacity, sequence[i]);
    }
  }

  /// Attaches to the list named `options.name` (ShareableList(name=...)).
  /// FileNotFoundError when there is none; ValueError when it is not a ShareableList<T>.
  explicit ShareableList(ShareableListOptions options) {
    namespace sl = detail::shareable_list;
    if (options.name.empty()) throw ValueError("ShareableList: a name is needed to attach");
    shm_ = SharedMemory({.name = std::move(options.name)});
    auto buf = shm_.buf();
    std::uint64_t header[4] = {};
    if (buf.size() < sl::kHeaderBytes) throw ValueError("'" + shm_.name() + "' is not a ShareableList");
    std::memcpy(header, buf.data(), sizeof header);
    if (header[0] != sl::kMagic) throw ValueError("'" + shm_.name() + "' is not a ShareableList");
    if (header[1] != Codec::signature)
      throw ValueError("ShareableList '" + shm_.name() + "' holds another element type");
    std::uint64_t n = header[2];
    std::uint64_t data = header[3];
    bool fits = Codec::fixed ? (data <= buf.size() && n <= (buf.size() - data) / Codec::fixed_size)
                             : (n < buf.size() / 8 && sl::kHeaderBytes + (n + 1) * 8 <= buf.size());
    if (!fits) throw ValueError("ShareableList '" + shm_.name() + "' is corrupt");
    length_ = static_cast<std::size_t>(n);
  }

  /// Python's len(list).
  std::size_t size() const noexcept { return length_; }

  /// list[i]; negative i counts from the end. IndexError when out of range.
  T get(std::ptrdiff_t i) const {
    auto buf = shm_.buf();
    auto [slot, capacity] = locate(buf.data(), buf.size(), normalise(i));
    return Codec::read(slot, capacity);
  }
  /// list[i] = value. IndexError when out of range; ValueError when a string does not
  /// fit its slot ("exceeds available storage", as Python says).
  void set(std::ptrdiff_t i, const T& value) {
    auto buf = shm_.buf();
    auto [slot, capacity] = locate(buf.data(), buf.size(), normalise(i));
    if (!Codec::fits(value, capacity))
      throw ValueError("ShareableList: value exceeds available storage for existing element");
    Codec::write(slot, capacity, value);
  }

  /// `list[i]` reads, `list[i] = v` writes.
  class Reference {
   public:
    operator T() const { return list_->get(index_); }
    Reference& operator=(const T& value) {
      list_->set(index_, value);
      return *this;
    }
    Reference& operator=(const Reference& other) { return *this = static_cast<T>(other); }
    friend bool operator==(const Reference& ref, const T& value) { return static_cast<T>(ref) == value; }

   private:
    friend class ShareableList;
    Reference(ShareableList* list, std::ptrdiff_t index) : list_(list), index_(index) {}
    ShareableList* list_;
    std::ptrdiff_t index_;
  };
  Reference operator[](std::ptrdiff_t i) { return Reference(this, i); }
  T operator[](std::ptrdiff_t i) const { return get(i); }

  /// How many elements equal `value`.
  std::size_t count(const T& value) const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < length_; ++i)
      if (get(static_cast<std::ptrdiff_t>(i)) == value) ++n;
    return n;
  }
  /// The position of the first element equal to `value`; ValueError when there is none.
  std::size_t index(const T& value) const {
    for (std::size_t i = 0; i < length_; ++i)
      if (get(static_cast<std::ptrdiff_t>(i)) == value) return i;
    throw ValueError("ShareableList.index(x): x not in list");
  }

  /// The SharedMemory holding the list (close() and unlink() it through this).
  SharedMemory& shm() noexcept { return shm_; }
  const SharedMemory& shm() const noexcept { return shm_; }

  /// Pickled as the name; unpickling attaches.
  template <class Archive>
  void save(Archive& archive) const {
    archive(shm_ ? shm_.name() : std::string());
  }
  template <class Archive>
  void load(Archive& archive) {
    std::string name;
    archive(name);
    *this = name.empty() ? ShareableList() : ShareableList(ShareableListOptions{.name = name});
  }

 private:
  std::size_t normalise(std::ptrdiff_t i) const {
    auto n = static_cast<std::ptrdiff_t>(length_);
    if (i < 0) i += n;
    if (i < 0 || i >= n) throw IndexError("ShareableList index out of range");
    return static_cast<std::size_t>(i);
  }

  // Slot i within the block [base, base + size): its start and capacity. The offsets
  // live in shared memory, so they are checked on every use.
  std::pair<std::byte*, std::size_t> locate(std::byte* base, std::size_t size, std::size_t i) const {
    namespace sl = detail::shareable_list;
    std::uint64_t data = 0;
    std::memcpy(&data, base + 24, 8);
    if constexpr (Codec::fixed) {
      std::uint64_t at = data + i * Codec::fixed_size;
      if (data > size || at + Codec::fixed_size > size) throw ValueError("ShareableList is corrupt");
      return {base + at, Codec::fixed_size};
    } else {
      std::uint64_t at[2];
      std::memcpy(at, base + sl::kHeaderBytes + i * 8, 16);
      if (at[0] > at[1] || at[1] > size || at[0] < sl::kHeaderBytes) throw ValueError("ShareableList is corrupt");
      return {base + at[0], static_cast<std::size_t>(at[1] - at[0])};
    }
  }

  SharedMemory shm_;
  std::size_t length_ = 0;
};

}  // namespace pyconc::multiprocessing::shared_memory
