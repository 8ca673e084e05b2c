// The family's resource tracker: the process that unlinks the /dev/shm names the family
// created and did not unlink, once every process of the family has exited (even when
// they were killed). Python's multiprocessing.resource_tracker, done our way.
//
//     family member ──send "I name" / "S name" / "U name"──┐   (one SOCK_SEQPACKET
//     family member ──────────────────────────────────────┤    socketpair; every
//     spawned child (fd from PYCONC_MP_TRACKER) ───────────┘    member holds the send end)
//                                                          ▼
//                                     tracker: a table of names; on EOF (the last
//                                     holder of the send end is gone) it unlinks what
//                                     is left, warns about user SharedMemory names,
//                                     and exits.
//
// The tracker is started lazily (first track) by a double fork, so it is nobody's child
// in the family (no zombie, no stray for waitpid(-1)); it calls setsid() and ignores
// SIGINT, SIGTERM, SIGHUP and SIGPIPE, so only the end of the family ends it. It is
// forked, not exec'ed: in the tracker only raw system calls run (read, unlink, write,
// _exit) over a table mmap'ed before the fork, so forking from a multi-threaded (and
// sanitized) program is safe.
#pragma once

#include <string>

namespace pyconc::multiprocessing::detail {

/// Environment variable through which a spawned (exec'ed) child learns the number of
/// the tracker's fd it inherited. The spawn launcher keeps resource_tracker_fd() open
/// across exec (clears FD_CLOEXEC in the child) and sets this variable to its number.
inline constexpr const char* kTrackerEnv = "PYCONC_MP_TRACKER";

/// The send end of the family's tracker socket (O_CLOEXEC), or -1 when no tracker runs
/// yet. In a spawned child the first call adopts the fd named by PYCONC_MP_TRACKER (and
/// marks it close-on-exec): the spawn bootstrap should call it once early.
int resource_tracker_fd() noexcept;

/// Starts the tracker now if none runs (a launcher calls it before starting children,
/// so that segments created by children are tracked by the family's one tracker rather
/// than by one the child starts for itself). Returns resource_tracker_fd(); -1 when it
/// could not be started (segments are then just not cleaned after crashes).
int ensure_resource_tracker() noexcept;

/// The tracker's pid when this process (or the fork parent it inherited from) started
/// it; 0 otherwise. For tests.
int resource_tracker_pid() noexcept;

/// What a tracked name is: pyconc's own objects (cleaned silently) or user
/// SharedMemory (cleaned with a warning on stderr, as Python does).
enum class TrackKind : char { internal = 'I', shared_memory = 'S' };

/// Registers `name` (no leading '/'); tracking a name again updates its kind.
/// track_segment(name) in shared_segment.hpp is track_segment(name, internal).
void track_segment(const std::string& name, TrackKind kind) noexcept;

}  // namespace pyconc::multiprocessing::detail
