// What the two halves of a process pool share: the link a worker receives (the pool's
// segment and the parent's bell) and the worker's entry point.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pyconc/multiprocessing/detail/reduction.hpp"
#include "pyconc/multiprocessing/detail/shared_segment.hpp"

namespace pyconc::multiprocessing::detail::pool {

/// A worker's way to its pool: inherited as is under fork; under spawn and forkserver
/// it travels as the segment's name and the bell's fd.
struct PoolLink {
  std::shared_ptr<SharedSegment> segment;
  int bell = -1;

  template <class Archive>
  void save(Archive& ar) const {
    std::uint32_t fd_index = export_fd(bell);
    ar(segment->name(), fd_index);
  }
  template <class Archive>
  void load(Archive& ar) {
    std::string name;
    std::uint32_t fd_index = 0;
    ar(name, fd_index);
    segment = SharedSegment::open(name);
    bell = import_fd(fd_index);
  }
};

/// The worker's end of its socket for fds (tasks whose arguments hold a Connection):
/// inherited under fork, exported with the launch otherwise.
struct FdChannel {
  int fd = -1;
  template <class Archive>
  void save(Archive& ar) const {
    ar(export_fd(fd));
  }
  template <class Archive>
  void load(Archive& ar) {
    std::uint32_t index = 0;
    ar(index);
    fd = import_fd(index);
  }
};

/// A worker's life: attach, run the initializer, then tasks until a stop message (or
/// `max_tasks` tasks).
void worker_main(PoolLink link, std::uint32_t slot, FdChannel fds, std::vector<std::byte> initializer,
                 long long max_tasks);

}  // namespace pyconc::multiprocessing::detail::pool
