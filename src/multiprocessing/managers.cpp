// Managers, the client side: a pool of authenticated connections per manager, the
// references of this process, proxies, and BaseManager (the server is in
// manager_server.cpp).
//
// References: the server counts the references each client process holds. In a client
// process, the
// ProxyStates of one object share one reference: the first makes it (incref, or the
// create request itself), the last gives it back (decref). A fork child inherits its
// parent's ProxyStates but none of its server references: on its first use of the
// manager it takes one reference for every object its parent held (and keeps them
// until it exits).
#include "pyconc/multiprocessing/managers.hpp"

#include <map>
#include <optional>
#include <unordered_map>

#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/detail/reduction.hpp"
#include "pyconc/pickle/exceptions.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::multiprocessing::managers {

using detail::Bytes;
using detail::Kind;
using detail::Reply;
using detail::Request;
using multiprocessing::detail::self_pid;

namespace detail {

std::uint64_t hash_type_name(const char* name) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (const char* p = name; *p; ++p) {
    h ^= static_cast<unsigned char>(*p);
    h *= 0x100000001b3ull;
  }
  return h;
}

bool pickling_for_child() noexcept { return multiprocessing::detail::exporting_fds(); }

Bytes process_authkey() { return current_process().authkey(); }

namespace {

// One authenticated connection to a manager, made by (and for) one process.
struct Link {
  int pid = 0;
  Connection conn;
};

Link open_link(const std::string& address, const Bytes& authkey) {
  Link link{self_pid(), connection::Client(address, {.authkey = authkey})};
  Request hello;
  hello.kind = Kind::hello;
  hello.id = static_cast<std::uint64_t>(self_pid());
  link.conn.send(hello);
  auto reply = link.conn.recv<Reply>();
  if (!reply.ok) pyconc::pickle::raise_exception(reply.payload);
  return link;
}

// Links inherited through fork belong to the parent: kept open (never used, never
// closed: closing would disturb the parent's end) until this process exits.
void abandon(Link& link) {
  static auto* graveyard = new std::vector<Connection>;  // NOLINT: lives until exit
  graveyard->push_back(std::move(link.conn));
}

// One request and its reply. A broken link (the manager is gone) is closed.
Bytes exchange(Link& link, const Request& req) {
  Reply reply;
  try {
    link.conn.send(req);
    reply = link.conn.recv<Reply>();
  } catch (...) {
    link.conn.close();
    throw;
  }
  if (!reply.ok) pyconc::pickle::raise_exception(reply.payload);
  return std::move(reply.payload);
}

// The idle links of this process, per manager address: a call borrows one (or opens
// one when none is idle) and gives it back, so a process holds as many links as it
// has threads calling at once.
class LinkPool {
 public:
  Link take(const std::string& address, const Bytes& authkey) {
    {
      pyconc::detail::LockGuard guard(mutex_);
      check_pid();
      auto& links = idle_[address][key_of(authkey)];
      if (!links.empty()) {
        Link link = std::move(links.back());
        links.pop_back();
        return link;
      }
    }
    return open_link(address, authkey);
  }
  void give(const std::string& address, const Bytes& authkey, Link link) {
    pyconc::detail::LockGuard guard(mutex_);
    check_pid();
    if (link.pid == self_pid()) idle_[address][key_of(authkey)].push_back(std::move(link));
  }
  // Closes the idle links to `address` (its manager is shutting down).
  void forget(const std::string& address) {
    std::unordered_map<std::string, std::vector<Link>> closing;
    {
      pyconc::detail::LockGuard guard(mutex_);
      check_pid();
      auto it = idle_.find(address);
      if (it == idle_.end()) return;
      closing = std::move(it->second);
      idle_.erase(it);
    }
  }

 private:
  void check_pid() PYCONC_REQUIRES(mutex_) {
    if (pid_ == self_pid()) return;
    for (auto& [address, by_key] : idle_)
      for (auto& [key, links] : by_key)
        for (auto& l : links) abandon(l);
    idle_.clear();
    pid_ = self_pid();
  }
  threading::Lock mutex_;
  int pid_ PYCONC_GUARDED_BY(mutex_) = self_pid();
  static std::string key_of(const Bytes& authkey) {
    return std::string(reinterpret_cast<const char*>(authkey.data()), authkey.size());
  }
  // address -> authkey -> idle links (a link is authenticated with one key).
  std::unordered_map<std::string, std::unordered_map<std::string, std::vector<Link>>> idle_ PYCONC_GUARDED_BY(mutex_);
};

LinkPool& links() {
  static auto* pool = new LinkPool;  // NOLINT: used by proxies destroyed at exit
  return *pool;
}

// This process's references to manager objects.
class Refs {
 public:
  void acquire(const Token& token, const Bytes& authkey, bool counted) {
    pyconc::detail::LockGuard guard(mutex_);
    adopt_after_fork();
    auto& c = counts_[{token.address, token.id}];
    if (c.count++ == 0) {
      c.authkey = authkey;
      if (!counted) {
        try {
          send(token.address, authkey, Kind::incref, token.id);
        } catch (...) {
          counts_.erase({token.address, token.id});
          throw;
        }
      }
    }
  }

  // In a fork child, before the first call through an inherited proxy.
  void adopt() {
    pyconc::detail::LockGuard guard(mutex_);
    adopt_after_fork();
  }

  void release(const Token& token) noexcept {
    pyconc::detail::LockGuard guard(mutex_);
    if (pid_ != self_pid()) return;  // an inherited state: its reference is pinned
    auto it = counts_.find({token.address, token.id});
    if (it == counts_.end()) return;
    if (--it->second.count > 0) return;
    Bytes authkey = std::move(it->second.authkey);
    counts_.erase(it);
    try {
      send(token.address, authkey, Kind::decref, token.id);
    } catch (...) {
      // The manager is gone (or going): nothing left to give back.
    }
  }

 private:
  struct Count {
    long count = 0;
    Bytes authkey;
  };

  static void send(const std::string& address, const Bytes& authkey, Kind kind, std::uint64_t id) {
    Request req;
    req.kind = kind;
    req.id = id;
    request(address, authkey, req);
  }

  // In a fork child: take a reference for every object the parent held (the inherited
  // proxies never give theirs back: their count stays above zero until exit).
  void adopt_after_fork() PYCONC_REQUIRES(mutex_) {
    int me = self_pid();
    if (pid_ == me) return;
    pid_ = me;
    for (auto& [key, c] : counts_) {
      if (c.count <= 0) continue;
      try {
        send(key.first, c.authkey, Kind::incref, key.second);
      } catch (...) {
      }
    }
  }

  threading::Lock mutex_;
  int pid_ PYCONC_GUARDED_BY(mutex_) = self_pid();
  std::map<std::pair<std::string, std::uint64_t>, Count> counts_ PYCONC_GUARDED_BY(mutex_);
};

Refs& refs() {
  static auto* r = new Refs;  // NOLINT: used by proxies destroyed at exit
  return *r;
}

}  // namespace

Bytes request(const std::string& address, const Bytes& authkey, Request& req) {
  Link link = links().take(address, authkey);
  Bytes out;
  try {
    out = exchange(link, req);
  } catch (...) {
    // A remote exception leaves the link in step; a broken link is closed.
    if (!link.conn.closed()) links().give(address, authkey, std::move(link));
    throw;
  }
  links().give(address, authkey, std::move(link));
  return out;
}

void forget_links(const std::string& address) { links().forget(address); }

ProxyState::ProxyState(Token token, Bytes authkey, bool counted)
    : token_(std::move(token)), authkey_(std::move(authkey)), pid_(self_pid()) {
  refs().acquire(token_, authkey_, counted);
}

ProxyState::~ProxyState() {
  if (pid_ == self_pid()) refs().release(token_);
}

Bytes ProxyState::call(const CodeAddress& op, Bytes args) {
  if (pid_ != self_pid()) refs().adopt();
  Request req;
  req.kind = Kind::call;
  req.id = token_.id;
  req.type = token_.type;
  req.op = op;
  req.args = std::move(args);
  return request(token_.address, authkey_, req);
}

}  // namespace detail

// ---- BaseProxy ----

const Token& BaseProxy::token() const { return checked().token(); }

const detail::ProxyState& BaseProxy::checked() const {
  if (!state_) throw ValueError("proxy refers to no object");
  return *state_;
}

// ---- BaseManager ----

namespace {

// The server process: listens, reports its address (or why it could not), serves.
void run_manager_server(std::optional<std::string> address, std::vector<std::byte> authkey,
                        std::optional<multiprocessing::detail::CodeAddress> initializer, Connection writer) {
  std::optional<Server> server;
  try {
    if (initializer) reinterpret_cast<void (*)()>(multiprocessing::detail::resolve_code_address(*initializer))();
    server.emplace(std::move(address), std::move(authkey));
    writer.send(Reply{true, pyconc::pickle::dumps(server->address())});
  } catch (...) {
    writer.send(Reply{false, pyconc::pickle::dump_exception(std::current_exception())});
    return;
  }
  writer.close();
  server->serve_forever();
}

}  // namespace

struct BaseManager::State {
  ManagerOptions options;
  std::vector<std::byte> authkey;
  std::string address;
  enum class Mode { initial, started, connected, shut } mode = Mode::initial;
  std::optional<multiprocessing::Process> process;
  threading::Lock mutex;
};

BaseManager::BaseManager(ManagerOptions options) : state_(std::make_unique<State>()) {
  state_->authkey = options.authkey ? *options.authkey : detail::process_authkey();
  if (options.address) state_->address = *options.address;
  state_->options = std::move(options);
}

BaseManager::~BaseManager() {
  if (!state_) return;
  try {
    shutdown();
    if (!state_->address.empty()) detail::forget_links(state_->address);
  } catch (...) {
  }
}

BaseManager::BaseManager(BaseManager&&) noexcept = default;
BaseManager& BaseManager::operator=(BaseManager&& other) noexcept {
  if (this != &other) {
    if (state_) {
      try {
        shutdown();
      } catch (...) {
      }
    }
    state_ = std::move(other.state_);
  }
  return *this;
}

void BaseManager::start(void (*initializer)()) {
  auto& s = *state_;
  pyconc::detail::LockGuard guard(s.mutex);
  if (s.mode == State::Mode::started) throw ProcessError("Already started server");
  if (s.mode == State::Mode::connected) throw ProcessError("Already connected to a server");
  if (s.mode == State::Mode::shut) throw ProcessError("Manager has shut down");
  std::optional<multiprocessing::detail::CodeAddress> init;
  if (initializer) init = multiprocessing::detail::code_address(reinterpret_cast<const void*>(initializer));
  auto [reader, writer] = Pipe(false);
  auto ctx = get_context(s.options.ctx);
  s.process.emplace(ctx.Process(ProcessOptions{.daemon = true}, &run_manager_server, s.options.address, s.authkey,
                                init, writer));
  s.process->start();
  writer.close();
  Reply reply;
  try {
    reply = reader.recv<Reply>();
  } catch (const EOFError&) {
    s.process->join();
    throw ProcessError("the manager's server process ended before it listened (exit code " +
                       std::to_string(s.process->exitcode().value_or(0)) + ")");
  }
  if (!reply.ok) {
    s.process->join();
    pyconc::pickle::raise_exception(reply.payload);
  }
  s.address = pyconc::pickle::loads<std::string>(reply.payload);
  s.mode = State::Mode::started;
}

void BaseManager::connect() {
  auto& s = *state_;
  pyconc::detail::LockGuard guard(s.mutex);
  if (s.mode == State::Mode::started) throw ProcessError("Already started server");
  if (s.address.empty()) throw ValueError("connect() needs the manager's address (ManagerOptions::address)");
  Request ping;
  ping.kind = Kind::ping;
  detail::request(s.address, s.authkey, ping);
  s.mode = State::Mode::connected;
}

void BaseManager::shutdown() {
  auto& s = *state_;
  pyconc::detail::LockGuard guard(s.mutex);
  if (s.mode != State::Mode::started) return;
  s.mode = State::Mode::shut;
  try {
    // As Python: a connection of its own asks the server to stop.
    detail::Link link = detail::open_link(s.address, s.authkey);
    Request stop;
    stop.kind = Kind::shutdown;
    detail::exchange(link, stop);
  } catch (...) {
    // The server is gone already: only the process is left to reap.
  }
  detail::forget_links(s.address);
  if (!s.process->join(Seconds(s.options.shutdown_timeout))) {
    s.process->terminate();
    detail::forget_links(s.address);
  if (!s.process->join(Seconds(s.options.shutdown_timeout))) {
      s.process->kill();
      s.process->join();
    }
  }
}

void BaseManager::join() {
  if (state_->process) state_->process->join();
}

bool BaseManager::join(Seconds timeout) { return !state_->process || state_->process->join(timeout); }

Server BaseManager::get_server() {
  auto& s = *state_;
  if (s.mode != State::Mode::initial) throw ProcessError("Already started server");
  return Server(s.options.address, s.authkey);
}

std::string BaseManager::address() const { return state_->address; }

const multiprocessing::Process* BaseManager::process() const noexcept {
  return state_->process ? &*state_->process : nullptr;
}

std::size_t BaseManager::number_of_objects() const {
  Request req;
  req.kind = Kind::count;
  auto out = detail::request(checked_address(), state_->authkey, req);
  return static_cast<std::size_t>(pyconc::pickle::loads<std::uint64_t>(out));
}

std::shared_ptr<detail::ProxyState> BaseManager::make_object(const detail::CodeAddress& factory,
                                                             const detail::CodeAddress& destroy, std::uint64_t type,
                                                             detail::Bytes args) {
  Request req;
  req.kind = Kind::create;
  req.type = type;
  req.op = factory;
  req.op2 = destroy;
  req.args = std::move(args);
  const std::string& address = checked_address();
  auto out = detail::request(address, state_->authkey, req);
  Token token{address, pyconc::pickle::loads<std::uint64_t>(out), type};
  return std::make_shared<detail::ProxyState>(std::move(token), state_->authkey, true);
}

const std::string& BaseManager::checked_address() const {
  auto& s = *state_;
  pyconc::detail::LockGuard guard(s.mutex);
  if (s.mode == State::Mode::initial) throw ProcessError("the manager is neither started nor connected: call start() or connect()");
  if (s.mode == State::Mode::shut) throw ProcessError("the manager has shut down");
  return s.address;
}

}  // namespace pyconc::multiprocessing::managers
