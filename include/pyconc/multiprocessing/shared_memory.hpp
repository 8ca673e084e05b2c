// multiprocessing.shared_memory: SharedMemory (a named block of memory any process can
// map) and ShareableList<T> (a fixed-length list stored in one).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "pyconc/errors.hpp"

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

}  // namespace pyconc::multiprocessing::shared_memory
