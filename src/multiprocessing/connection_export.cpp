// How a Connection crosses into another process as a Process argument: it is pickled as
// its segment's name, its role and its file descriptors (exported through the launch,
// see detail/reduction.hpp); the child maps the segment by name and adopts the fds.
//
//   parent: Wire{segment name, role, readable, writable, fd numbers} ──pickle──►
//   child:  SharedSegment::open(name) ─► check the header ─► make_end + imported fds
#include <cstdint>

#include "pyconc/multiprocessing/detail/reduction.hpp"
#include "connection_state.hpp"

namespace pyconc::multiprocessing::connection {

using detail::Header;
using detail::SharedSegment;
using detail::Use;

namespace {
constexpr std::uint32_t kNoFd = 0xffffffffu;  // an fd this end does not have
}  // namespace

void detail::unlink_segment(const Connection& c) {
  auto& state = ConnectionAccess::state(c);
  if (state && !state->segment->unlinked()) state->segment->unlink();
}

Connection::Wire Connection::export_wire() const {
  Use use(state_);
  auto& s = use.s;
  if (s.segment->unlinked())
    throw ValueError("a Connection made by Listener.accept() or Client() crosses only into fork children");
  Wire w;
  w.segment = s.segment->name();
  w.role = s.role;
  w.readable = s.readable.load();
  w.writable = s.writable.load();
  auto exp = [](int fd) { return fd >= 0 ? multiprocessing::detail::export_fd(fd) : kNoFd; };
  w.sock = exp(s.sock);
  w.efd_in = exp(s.efd_in);
  w.efd_out = exp(s.efd_out);
  return w;
}

void Connection::import_wire(const Wire& w) {
  auto imp = [](std::uint32_t i) { return i == kNoFd ? -1 : multiprocessing::detail::import_fd(i); };
  int sock = imp(w.sock), efd_in = imp(w.efd_in), efd_out = imp(w.efd_out);
  try {
    if (w.role > 1 || (!w.readable && !w.writable)) throw ValueError("corrupt Connection data");
    auto seg = SharedSegment::open(w.segment);
    auto* hdr = static_cast<Header*>(seg->data());
    if (seg->size() < detail::kHeaderSize || hdr->magic != detail::kMagic || hdr->capacity != detail::kCapacity ||
        (hdr->ndirs != 1 && hdr->ndirs != 2) || seg->size() != detail::segment_size(hdr->ndirs))
      throw ValueError("segment " + w.segment + " is not a pyconc Pipe");
    bool duplex = hdr->ndirs == 2;
    if (sock < 0 || (w.readable && efd_in < 0) || (w.writable && efd_out < 0))
      throw ValueError("corrupt Connection data");
    auto s = detail::make_end(seg, w.role, duplex, w.readable, w.writable);
    s->sock = sock;
    s->efd_in = efd_in;
    s->efd_out = efd_out;
    state_ = std::move(s);
  } catch (...) {
    detail::close_fd(sock);
    detail::close_fd(efd_in);
    detail::close_fd(efd_out);
    throw;
  }
}

}  // namespace pyconc::multiprocessing::connection
