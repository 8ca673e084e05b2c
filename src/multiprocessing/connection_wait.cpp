// multiprocessing.connection.wait: one ppoll() over every object's fds.
//
//   for each Connection: data in its ring? ─► ready at once
//   else: sleepers++ on each ─► ppoll(doorbells, liveness sockets, plain fds)
//         ─► sleepers--, settle() the rung doorbells ─► the ready ones, in order
#include <poll.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "connection_doorbell.hpp"
#include "connection_state.hpp"

namespace pyconc::multiprocessing::connection {

using detail::ConnectionState;
using detail::Deadline;
using detail::Use;

namespace {

std::vector<Waitable> wait_until(const std::vector<Waitable>& objects, const Deadline& deadline) {
  struct Entry {
    std::unique_ptr<Use> use;
    ConnectionState* s = nullptr;
  };
  std::vector<Entry> entries(objects.size());
  for (std::size_t i = 0; i < objects.size(); ++i)
    if (auto* c = objects[i].connection()) {
      entries[i].use = std::make_unique<Use>(*c);
      entries[i].s = &entries[i].use->s;
    }
  std::vector<pollfd> fds;
  for (;;) {
    std::vector<Waitable> ready;
    for (std::size_t i = 0; i < objects.size(); ++i)
      if (entries[i].s && entries[i].s->in && entries[i].s->has_data()) ready.push_back(objects[i]);
    if (!ready.empty()) return ready;

    fds.clear();
    for (std::size_t i = 0; i < objects.size(); ++i) {
      if (auto* s = entries[i].s) {
        fds.push_back({s->in ? s->efd_in : -1, POLLIN, 0});
        fds.push_back({s->sock, POLLIN | POLLRDHUP, 0});
        if (s->in) s->in->sleepers.fetch_add(1, std::memory_order_seq_cst);
      } else {
        fds.push_back({objects[i].fd(), POLLIN, 0});
      }
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    bool any = false;
    for (auto& e : entries)
      if (e.s && e.s->in && e.s->has_data()) any = true;
    int r = 0;
    if (!any) {
      timespec ts = detail::slice_for(deadline, false);
      r = ::ppoll(fds.data(), fds.size(), deadline.is_never() ? nullptr : &ts, nullptr);
      if (r < 0 && errno != EINTR) {
        int e = errno;
        for (auto& en : entries)
          if (en.s && en.s->in) en.s->in->sleepers.fetch_sub(1);
        raise_os_error(e, "poll");
      }
    }
    std::size_t k = 0;
    for (std::size_t i = 0; i < objects.size(); ++i) {
      if (auto* s = entries[i].s) {
        pollfd& doorbell = fds[k++];
        pollfd& live = fds[k++];
        if (s->in) {
          s->in->sleepers.fetch_sub(1);
          if (r > 0 && (doorbell.revents & POLLIN)) s->settle();
        }
        if (s->closed.load()) detail::handle_closed();
        if ((s->in && s->has_data()) || (r > 0 && live.revents)) ready.push_back(objects[i]);
      } else {
        pollfd& p = fds[k++];
        if (p.revents & POLLNVAL) throw OSError(EBADF, "wait: invalid file descriptor " + std::to_string(p.fd));
        if (r > 0 && p.revents) ready.push_back(objects[i]);
      }
    }
    if (!ready.empty() || deadline.expired()) return ready;
  }
}

}  // namespace

std::vector<Waitable> wait(const std::vector<Waitable>& objects) { return wait_until(objects, Deadline::never()); }
std::vector<Waitable> wait(const std::vector<Waitable>& objects, Seconds timeout) {
  return wait_until(objects, Deadline::after(timeout));
}

}  // namespace pyconc::multiprocessing::connection
