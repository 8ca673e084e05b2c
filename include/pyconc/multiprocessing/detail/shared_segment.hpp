// A POSIX shared-memory segment (/dev/shm) mapped into this process: the storage of
// every process-shared object pyconc makes (locks, queues, Value/Array, connections'
// rings, SharedMemory).
//
// A handle to a process-shared object holds a std::shared_ptr<SharedSegment>. Across a
// process boundary it travels as the segment's name: the receiver open()s that name.
// Children made by fork inherit the mapping itself and need no name.
//
// Lifetime of the name: a segment made with `unlink_on_drop` (pyconc's own objects)
// loses its name when the last SharedSegment object of the *creating process* goes
// away; mappings elsewhere stay valid, but the name can no longer be opened. Every
// name pyconc creates is registered with the family's resource tracker, which unlinks
// what is left when the whole family has exited (even after crashes).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace pyconc::multiprocessing::detail {

class SharedSegment {
 public:
  struct CreateOptions {
    /// Without leading '/'. Empty: "pyconc-<family pid>-<16 random hex digits>".
    std::string name;
    /// Unlink the name when the creating process drops its last handle.
    bool unlink_on_drop = true;
  };

  /// Creates a zero-filled segment of `size` bytes (mode 0600, O_EXCL).
  /// FileExistsError if the name is taken; OSError (ENOSPC, ENOMEM, ...) if /dev/shm
  /// cannot hold it; ValueError for size 0 or a name with '/'.
  static std::shared_ptr<SharedSegment> create(std::size_t size, CreateOptions options);
  static std::shared_ptr<SharedSegment> create(std::size_t size) { return create(size, CreateOptions{}); }

  /// Maps an existing segment by name (no leading '/'); its size is the file's size.
  /// FileNotFoundError when there is no such segment.
  static std::shared_ptr<SharedSegment> open(const std::string& name);

  SharedSegment(const SharedSegment&) = delete;
  SharedSegment& operator=(const SharedSegment&) = delete;
  ~SharedSegment();

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  const std::string& name() const noexcept { return name_; }
  /// Whether this process created it (false in fork children of the creator).
  bool created_here() const noexcept;

  /// Removes the name now (mappings stay valid) and tells the resource tracker.
  /// FileNotFoundError if it was already gone.
  void unlink();
  /// Whether unlink() was called.
  bool unlinked() const noexcept { return unlinked_; }

 private:
  SharedSegment(std::string name, void* data, std::size_t size, int creator_pid, bool unlink_on_drop);
  std::string name_;
  void* data_;
  std::size_t size_;
  int creator_pid_;  // 0 when opened, not created
  bool unlink_on_drop_;
  bool unlinked_ = false;
};

/// The family's resource tracker (src/multiprocessing/resource_tracker.cpp): `track`
/// registers a /dev/shm name to unlink if it is still there when every process of the
/// family has exited; `untrack` forgets it (it was unlinked properly). Both are cheap
/// and never throw; the tracker starts on first use.
void track_segment(const std::string& name) noexcept;
void untrack_segment(const std::string& name) noexcept;

}  // namespace pyconc::multiprocessing::detail
