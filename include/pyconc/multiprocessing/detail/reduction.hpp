// File descriptors that travel with pickled arguments: how a handle that owns an fd
// (a Connection) crosses into a spawn or forkserver child, or into a pool worker with a
// task (the pool sends the task's fds over the worker's socket, SCM_RIGHTS).
//
// While a Process's arguments are pickled for a child, the launcher keeps an FdExport
// active on that thread; a handle's cereal save() calls export_fd() and stores the
// index it returns. The launcher hands the fds to the child (inherited across exec, or
// SCM_RIGHTS to the fork server), and the child's bootstrap keeps an FdImport active
// while it unpickles; the handle's load() calls import_fd(index).
//
// Outside those scopes (e.g. pickling a Connection into a Queue) export_fd throws
// ValueError: such a handle crosses processes only as a Process argument (or through
// inheritance with fork).
#pragma once

#include <cstdint>
#include <vector>

namespace pyconc::multiprocessing::detail {

/// While alive, export_fd() on this thread records fds here (not dup'ed: the caller
/// keeps them open until the child has them).
class FdExport {
 public:
  FdExport();
  ~FdExport();
  FdExport(const FdExport&) = delete;
  FdExport& operator=(const FdExport&) = delete;
  const std::vector<int>& fds() const noexcept { return fds_; }

 private:
  friend std::uint32_t export_fd(int fd);
  std::vector<int> fds_;
  FdExport* previous_;
};

/// While alive, import_fd() on this thread reads from `fds` (the child's copies, in
/// export order). Each fd is handed out once; those never taken are closed by the
/// destructor.
class FdImport {
 public:
  explicit FdImport(std::vector<int> fds);
  ~FdImport();
  FdImport(const FdImport&) = delete;
  FdImport& operator=(const FdImport&) = delete;

 private:
  friend int import_fd(std::uint32_t index);
  std::vector<int> fds_;
  FdImport* previous_;
};

/// Registers `fd` to travel with the message being pickled; returns its index.
/// ValueError when no FdExport is active on this thread.
std::uint32_t export_fd(int fd);
/// Whether an FdExport is active on this thread (the arguments of a Process being
/// started are being pickled).
bool exporting_fds() noexcept;

/// The fd with that index (the caller owns it from now on). ValueError when no FdImport
/// is active, the index is out of range, or it was taken before.
int import_fd(std::uint32_t index);

/// Copies of `fds` (close-on-exec) that the caller owns. OSError when one cannot be made.
std::vector<int> dup_all(const std::vector<int>& fds);
/// Closes every fd of `fds` and empties it.
void close_all(std::vector<int>& fds) noexcept;
/// Sends `fds` over the Unix socket `sock` (SCM_RIGHTS, with one byte). OSError on failure.
void send_fds(int sock, const std::vector<int>& fds);
/// Receives exactly `n` fds sent by send_fds (blocking). OSError/EOFError on failure.
std::vector<int> recv_fds(int sock, std::size_t n);

}  // namespace pyconc::multiprocessing::detail
