#include "pyconc/multiprocessing/detail/shared_segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"

namespace pyconc::multiprocessing::detail {
namespace {

void check_name(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name.size() > 250)
    throw ValueError("invalid shared memory name '" + name + "': 1 to 250 characters, no '/'");
}

std::string fresh_name() {
  char buf[64];
  std::snprintf(buf, sizeof buf, "pyconc-%d-%016llx", family_pid(), static_cast<unsigned long long>(random_u64()));
  return buf;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void* map(int fd, std::size_t size, const std::string& name) {
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) raise_os_error(errno, "mmap of shared memory '" + name + "'");
  return data;
}

}  // namespace

SharedSegment::SharedSegment(std::string name, void* data, std::size_t size, int creator_pid, bool unlink_on_drop)
    : name_(std::move(name)), data_(data), size_(size), creator_pid_(creator_pid), unlink_on_drop_(unlink_on_drop) {}

std::shared_ptr<SharedSegment> SharedSegment::create(std::size_t size, CreateOptions options) {
  if (size == 0) throw ValueError("shared memory size must be positive");
  bool generated = options.name.empty();
  std::string name = generated ? fresh_name() : options.name;
  check_name(name);
  int fd = -1;
  for (int attempt = 0;; ++attempt) {
    fd = ::shm_open(("/" + name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) break;
    if (errno == EEXIST && generated && attempt < 8) {
      name = fresh_name();
      continue;
    }
    raise_os_error(errno, "cannot create shared memory '" + name + "'");
  }
  Fd guard(fd);
  track_segment(name);
  try {
    // posix_fallocate, not ftruncate: a full /dev/shm fails here with ENOSPC instead of
    // SIGBUS at the first touch of a page.
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (rc == EINTR) rc = ::posix_fallocate(fd, 0, static_cast<off_t>(size));
    if (rc != 0) raise_os_error(rc, "cannot size shared memory '" + name + "'");
    void* data = map(fd, size, name);
    return std::shared_ptr<SharedSegment>(new SharedSegment(name, data, size, self_pid(), options.unlink_on_drop));
  } catch (...) {
    ::shm_unlink(("/" + name).c_str());
    untrack_segment(name);
    throw;
  }
}

std::shared_ptr<SharedSegment> SharedSegment::open(const std::string& name) {
  check_name(name);
  int fd = ::shm_open(("/" + name).c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) raise_os_error(errno, "cannot open shared memory '" + name + "'");
  Fd guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) raise_os_error(errno, "fstat of shared memory '" + name + "'");
  if (st.st_size <= 0) throw ValueError("shared memory '" + name + "' is empty");
  auto size = static_cast<std::size_t>(st.st_size);
  void* data = map(fd, size, name);
  return std::shared_ptr<SharedSegment>(new SharedSegment(name, data, size, 0, false));
}

SharedSegment::~SharedSegment() {
  ::munmap(data_, size_);
  if (unlink_on_drop_ && !unlinked_ && created_here()) {
    ::shm_unlink(("/" + name_).c_str());
    untrack_segment(name_);
  }
}

bool SharedSegment::created_here() const noexcept { return creator_pid_ != 0 && creator_pid_ == self_pid(); }

void SharedSegment::unlink() {
  if (unlinked_) raise_os_error(ENOENT, "shared memory '" + name_ + "' was unlinked before");
  if (::shm_unlink(("/" + name_).c_str()) != 0) raise_os_error(errno, "cannot unlink shared memory '" + name_ + "'");
  unlinked_ = true;
  untrack_segment(name_);
}

}  // namespace pyconc::multiprocessing::detail
