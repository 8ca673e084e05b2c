// A manager's server: a table of type-erased objects and one thread per client
// connection (Server, which BaseManager::start() runs in the manager process).
//
//   client process                               manager process (Server)
//   ──────────────                               ────────────────────────
//   proxy.method(args) ─► ProxyState::call       serve_forever: Listener.accept()
//     pickled Request{kind, id, op, args}          └ one thread per connection:
//     └ Connection (from the manager's  ───────►     serve_connection ─► serve_requests
//       pool, after Client() + authkey)                hello (pid) ─► ledger[pid]
//                                                      recv Request ─► handle():
//                                                        create / incref / decref / call
//                                                        └ objects[id] (Entry: its lock,
//                                                          the object, its destroy fn)
//     Reply{ok, payload or pickled   ◄──────────────── send Reply (one per Request)
//     exception} ─► result or raise
//   the client's last connection closes ──────────► drop every reference of its pid
//
// References: the server counts, per object, the references each client *process*
// holds (a ledger per pid, fed by create/incref/decref requests). When the last
// connection of a process closes (it exited, or was killed), the server drops that
// process's references; an object with none left is destroyed.
#include <atomic>
#include <thread>
#include <unordered_map>

#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/managers.hpp"
#include "pyconc/pickle/exceptions.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::multiprocessing::managers {

using detail::Bytes;
using detail::Kind;
using detail::Reply;
using detail::Request;

namespace {

struct Entry {
  Entry(void* o, detail::Destroy d, std::uint64_t t) : object(o), destroy(d), type(t) {}
  ~Entry() { destroy(object); }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  void* const object;
  const detail::Destroy destroy;
  const std::uint64_t type;
  threading::Lock mutex;  // calls on one object run one at a time
  long refs = 0;          // guarded by the Core's mutex
};

struct Ledger {
  int connections = 0;
  std::unordered_map<std::uint64_t, long> refs;
};

}  // namespace

struct Server::Impl {
  explicit Impl(std::optional<std::string> address, Bytes key)
      : authkey(std::move(key)), listener(connection::ListenerOptions{.address = std::move(address), .backlog = 64, .authkey = authkey}) {}

  Bytes authkey;
  connection::Listener listener;
  threading::Lock mutex;
  std::unordered_map<std::uint64_t, std::shared_ptr<Entry>> objects PYCONC_GUARDED_BY(mutex);
  std::unordered_map<int, Ledger> ledgers PYCONC_GUARDED_BY(mutex);
  std::uint64_t next_id PYCONC_GUARDED_BY(mutex) = 1;
  std::atomic<bool> stopping{false};
  // The connections being served, and how many threads serve them.
  std::vector<Connection> live PYCONC_GUARDED_BY(mutex);
  std::atomic<int> serving{0};

  // Stops accepting and closes every connection (their threads then end).
  void stop() noexcept {
    stopping.store(true);
    listener.close();
    std::vector<Connection> closing;
    {
      pyconc::detail::LockGuard guard(mutex);
      closing = live;
    }
    for (auto& c : closing) c.close();
  }

  void wait_for_connection_threads() noexcept {
    for (int n; (n = serving.load()) != 0;) serving.wait(n);
  }

  // Drops `n` references of `pid` to `id`; the entries to destroy go to `dead` (destroyed
  // by the caller outside the mutex).
  void drop(Ledger& ledger, std::uint64_t id, long n, std::vector<std::shared_ptr<Entry>>& dead)
      PYCONC_REQUIRES(mutex) {
    auto it = ledger.refs.find(id);
    if (it == ledger.refs.end()) return;
    n = std::min(n, it->second);
    if ((it->second -= n) == 0) ledger.refs.erase(it);
    auto obj = objects.find(id);
    if (obj == objects.end()) return;
    if ((obj->second->refs -= n) <= 0) {
      dead.push_back(std::move(obj->second));
      objects.erase(obj);
    }
  }

  Bytes handle(int pid, Request& req, std::unordered_map<std::string, std::unordered_map<std::uintptr_t, void*>>& cache) {
    auto resolve = [&cache](const detail::CodeAddress& where) {
      auto& slot = cache[where.module][where.offset];
      if (!slot) slot = multiprocessing::detail::resolve_code_address(where);
      return slot;
    };
    switch (req.kind) {
      case Kind::ping:
        return {};
      case Kind::create: {
        auto factory = reinterpret_cast<detail::Factory>(resolve(req.op));
        auto destroy = reinterpret_cast<detail::Destroy>(resolve(req.op2));
        void* object = factory(req.args);
        auto entry = std::make_shared<Entry>(object, destroy, req.type);
        pyconc::detail::LockGuard guard(mutex);
        std::uint64_t id = next_id++;
        entry->refs = 1;
        objects.emplace(id, std::move(entry));
        ledgers[pid].refs[id] += 1;
        return pyconc::pickle::dumps(id);
      }
      case Kind::call: {
        std::shared_ptr<Entry> entry;
        {
          pyconc::detail::LockGuard guard(mutex);
          auto it = objects.find(req.id);
          if (it == objects.end())
            throw KeyError("manager object " + std::to_string(req.id) + " does not exist (every proxy to it was dropped)");
          entry = it->second;
        }
        if (entry->type != req.type) throw ValueError("proxy of another type than its object");
        auto op = reinterpret_cast<detail::Op>(resolve(req.op));
        Bytes out;
        pyconc::detail::LockGuard guard(entry->mutex);
        op(entry->object, req.args, out);
        return out;
      }
      case Kind::incref: {
        pyconc::detail::LockGuard guard(mutex);
        auto it = objects.find(req.id);
        if (it == objects.end())
          throw KeyError("manager object " + std::to_string(req.id) + " does not exist (every proxy to it was dropped)");
        it->second->refs += 1;
        ledgers[pid].refs[req.id] += 1;
        return {};
      }
      case Kind::decref: {
        std::vector<std::shared_ptr<Entry>> dead;
        {
          pyconc::detail::LockGuard guard(mutex);
          drop(ledgers[pid], req.id, 1, dead);
        }
        return {};
      }
      case Kind::count: {
        pyconc::detail::LockGuard guard(mutex);
        return pyconc::pickle::dumps(static_cast<std::uint64_t>(objects.size()));
      }
      case Kind::shutdown:
        return {};  // serve_connection stops the server once it has replied
      case Kind::hello:
        break;
    }
    throw ValueError("bad manager request");
  }

  // One client connection: hello, then requests until the client goes.
  static void serve_connection(std::shared_ptr<Impl> self, Connection conn) {
    struct Serving {
      Impl& impl;
      ~Serving() {
        impl.serving.fetch_sub(1);
        impl.serving.notify_all();
      }
    } serving{*self};
    {
      pyconc::detail::LockGuard guard(self->mutex);
      if (self->stopping.load()) return;
      self->live.push_back(conn);
    }
    serve_requests(*self, conn);
    pyconc::detail::LockGuard guard(self->mutex);
    std::erase(self->live, conn);
  }

  static void serve_requests(Impl& impl, Connection& conn) {
    Impl* self = &impl;
    int pid = 0;
    std::unordered_map<std::string, std::unordered_map<std::uintptr_t, void*>> cache;
    try {
      auto hello = conn.recv<Request>();
      if (hello.kind != Kind::hello) return;
      pid = static_cast<int>(hello.id);
      {
        pyconc::detail::LockGuard guard(self->mutex);
        self->ledgers[pid].connections += 1;
      }
      conn.send(Reply{true, {}});
      for (;;) {
        Request req;
        try {
          req = conn.recv<Request>();
        } catch (const ValueError&) {
          conn.send(Reply{false, pyconc::pickle::dump_exception(std::current_exception())});
          continue;
        }
        Reply reply;
        try {
          reply.payload = self->handle(pid, req, cache);
          reply.ok = true;
        } catch (...) {
          reply.payload = pyconc::pickle::dump_exception(std::current_exception());
        }
        conn.send(reply);
        if (req.kind == Kind::shutdown) {
          self->stop();
          break;
        }
      }
    } catch (...) {
      // EOF (the client went away) or a broken connection.
    }
    if (pid == 0) return;
    std::vector<std::shared_ptr<Entry>> dead;
    {
      pyconc::detail::LockGuard guard(self->mutex);
      auto& ledger = self->ledgers[pid];
      if (--ledger.connections <= 0) {
        std::vector<std::pair<std::uint64_t, long>> held(ledger.refs.begin(), ledger.refs.end());
        for (auto& [id, n] : held) self->drop(ledger, id, n, dead);
        self->ledgers.erase(pid);
      }
    }
  }
};

Server::Server(std::optional<std::string> address, std::vector<std::byte> authkey)
    : impl_(std::make_shared<Impl>(std::move(address), std::move(authkey))) {}
Server::~Server() { stop(); }
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&&) noexcept = default;

void Server::stop() noexcept {
  if (impl_) impl_->stop();
}

std::string Server::address() const {
  if (!impl_) throw ValueError("moved-from Server");
  return impl_->listener.address();
}

void Server::serve_forever() {
  if (!impl_) throw ValueError("moved-from Server");
  std::shared_ptr<Impl> core = impl_;  // the connection threads share it
  while (!core->stopping.load()) {
    Connection conn;
    try {
      conn = core->listener.accept();
    } catch (const AuthenticationError&) {
      continue;  // a client without the key: dropped
    } catch (const EOFError&) {
      continue;  // a client that left during the handshake
    } catch (const OSError&) {
      if (core->stopping.load()) break;
      continue;
    }
    core->serving.fetch_add(1);
    try {
      std::thread([core, conn]() mutable { Impl::serve_connection(core, std::move(conn)); }).detach();
    } catch (...) {
      core->serving.fetch_sub(1);  // no thread for this client: it sees EOF
    }
  }
  core->stop();
  core->wait_for_connection_threads();
}

}  // namespace pyconc::multiprocessing::managers
