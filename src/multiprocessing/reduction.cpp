#include "pyconc/multiprocessing/detail/reduction.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

std::vector<int> dup_all(const std::vector<int>& fds) {
  std::vector<int> out;
  out.reserve(fds.size());
  for (int fd : fds) {
    int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) {
      int e = errno;
      close_all(out);
      raise_os_error(e, "dup");
    }
    out.push_back(d);
  }
  return out;
}

void close_all(std::vector<int>& fds) noexcept {
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
  fds.clear();
}

void send_fds(int sock, const std::vector<int>& fds) {
  constexpr std::size_t kMax = 253;  // SCM_MAX_FD
  for (std::size_t at = 0; at < fds.size(); at += kMax) {
    std::size_t n = std::min(kMax, fds.size() - at);
    char byte = 'f';
    iovec iov{&byte, 1};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * n));
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    std::memcpy(CMSG_DATA(c), fds.data() + at, sizeof(int) * n);
    ssize_t r;
    do r = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r < 0) raise_os_error(errno, "sendmsg");
  }
}

std::vector<int> recv_fds(int sock, std::size_t n) {
  std::vector<int> fds;
  while (fds.size() < n) {
    char byte = 0;
    iovec iov{&byte, 1};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * 253));
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    ssize_t r;
    do r = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
      int e = errno;
      close_all(fds);
      raise_os_error(e, "recvmsg");
    }
    if (r == 0) {
      close_all(fds);
      throw EOFError("the pool closed the channel of file descriptors");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char* data = CMSG_DATA(c);
        for (std::size_t i = 0; i < k; ++i) {
          int fd;
          std::memcpy(&fd, data + i * sizeof(int), sizeof(int));
          fds.push_back(fd);
        }
      }
  }
  return fds;
}

}  // namespace pyconc::multiprocessing::detail
