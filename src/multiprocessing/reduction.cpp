#include "pyconc/multiprocessing/detail/reduction.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "pyconc/errors.hpp"

namespace pyconc::multiprocessing::detail {
namespace {
thread_local FdExport* t_export = nullptr;
thread_local FdImport* t_import = nullptr;
}  // namespace

FdExport::FdExport() : previous_(t_export) { t_export = this; }
FdExport::~FdExport() { t_export = previous_; }

FdImport::FdImport(std::vector<int> fds) : fds_(std::move(fds)), previous_(t_import) { t_import = this; }
FdImport::~FdImport() {
  t_import = previous_;
  for (int fd : fds_)
    if (fd >= 0) ::close(fd);
}

std::uint32_t export_fd(int fd) {
  if (t_export == nullptr)
    throw ValueError(
        "this handle owns a file descriptor and can cross to another process only as an argument of a "
        "Process (or by inheritance under fork), not inside a pickled message");
  t_export->fds_.push_back(fd);
  return static_cast<std::uint32_t>(t_export->fds_.size() - 1);
}

int import_fd(std::uint32_t index) {
  if (t_import == nullptr) throw ValueError("no file descriptors travel with this message");
  if (index >= t_import->fds_.size() || t_import->fds_[index] < 0)
    throw ValueError("corrupt message: file descriptor index out of range or used twice");
  int fd = t_import->fds_[index];
  t_import->fds_[index] = -1;
  // Inherited across exec on purpose; from now on it is an ordinary fd of this process,
  // which a program it runs must not inherit (Python's fds are non-inheritable too).
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

bool exporting_fds() noexcept { return t_export != nullptr; }

}  // namespace pyconc::multiprocessing::detail
