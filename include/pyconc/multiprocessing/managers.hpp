// multiprocessing.managers: a server process that holds objects, and proxies through
// which every process of the program uses them (Manager(), SyncManager, BaseManager).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pyconc/detail/timeout.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/detail/manager_objects.hpp"
#include "pyconc/multiprocessing/detail/manager_protocol.hpp"
#include "pyconc/multiprocessing/listener.hpp"

namespace pyconc::multiprocessing::managers {

namespace detail {
/// p[k] as an expression: reads (p.getitem) or assigns (p.setitem).
template <class P, class Key, class V>
class ItemRef {
 public:
  ItemRef(const P& p, Key k) : p_(p), k_(std::move(k)) {}
  operator V() const { return p_.getitem(k_); }  // NOLINT: implicit on purpose
  V value() const { return p_.getitem(k_); }
  ItemRef& operator=(V v) {
    p_.setitem(k_, std::move(v));
    return *this;
  }
  ItemRef& operator=(const ItemRef& other) { return *this = other.value(); }
  ItemRef(const ItemRef&) = default;

 private:
  const P& p_;
  Key k_;
};
}  // namespace detail

/// What every proxy shares (Python's BaseProxy): the token of its object and a link to
/// the manager. Proxies are cheap handles: copies share one link. Any proxy may be
/// passed to a Process (every start method), or pickled into a Queue or a Pipe; in
/// the receiving process it reconnects to the manager.
///
/// Thread safety: every member may be called from any thread; each thread talks to the
/// manager over its own connection, so a slow call does not hold up other threads.
///
/// Memory ordering: each call is one request answered by the manager, which runs the
/// calls on one object one at a time: a call that returned happens-before any call
/// made after it (from any process).
///
/// Differences from Python: see docs/multiprocessing/managers.md.
class BaseProxy {
 public:
  /// A proxy to nothing (any call raises ValueError).
  BaseProxy() = default;

  /// The object's token (manager address, id, type tag).
  const Token& token() const;

  friend bool operator==(const BaseProxy& a, const BaseProxy& b) noexcept {
    return a.state_ == b.state_ || (a.state_ && b.state_ && a.state_->token() == b.state_->token());
  }

  /// cereal: the token, and the authkey only while the arguments of a Process are
  /// pickled (as Python: elsewhere the receiver uses its own process authkey).
  template <class Archive>
  void save(Archive& ar) const {
    const auto& st = checked();
    bool with_key = detail::pickling_for_child();
    ar(st.token(), with_key);
    if (with_key) ar(st.authkey());
  }
  template <class Archive>
  void load(Archive& ar) {
    Token token;
    bool with_key = false;
    ar(token, with_key);
    detail::Bytes key;
    if (with_key)
      ar(key);
    else
      key = detail::process_authkey();
    state_ = std::make_shared<detail::ProxyState>(std::move(token), std::move(key), false);
  }

  explicit BaseProxy(std::shared_ptr<detail::ProxyState> state) : state_(std::move(state)) {}

 protected:
  const detail::ProxyState& checked() const;

  /// Runs M (a method of T, or a function taking T& first) on the object.
  template <class T, auto M, class... U>
  typename detail::fn_traits<decltype(M)>::Result invoke(U&&... u) const {
    using Tr = detail::fn_traits<decltype(M)>;
    // The arguments stay alive until the reply: a proxy among them (moved in) must keep
    // its object until the manager holds its own reference.
    typename Tr::Args values(std::forward<U>(u)...);
    detail::Bytes args;
    if constexpr (sizeof...(U) > 0) args = pyconc::pickle::dumps(values);
    const auto& st = checked();
    detail::Bytes out = const_cast<detail::ProxyState&>(st).call(detail::address_of<&detail::invoke_op<T, M>>(), std::move(args));
    if constexpr (!std::is_void_v<typename Tr::Result>) return pyconc::pickle::loads<typename Tr::Result>(out);
  }

  std::shared_ptr<detail::ProxyState> state_;
};

/// A proxy to a T made by BaseManager::create<T>() (Python's AutoProxy): call<&T::m>(args)
/// runs t.m(args) in the manager's process and returns a copy of the result.
///
///     struct Maths { int add(int a, int b) { return a + b; } };
///     auto maths = manager.create<Maths>();
///     maths.call<&Maths::add>(4, 3);                 // 7, computed by the manager
///
/// Thread safety, memory ordering: as BaseProxy. Calls on one object run one at a time.
template <class T>
class Proxy : public BaseProxy {
 public:
  using BaseProxy::BaseProxy;
  Proxy() = default;

  /// Python's proxy.method(args) / proxy._callmethod('method', args). M is a member
  /// function of T (or of a base), or a function taking T& first.
  template <auto M, class... U>
  auto call(U&&... args) const {
    using C = typename detail::fn_traits<decltype(M)>::Class;
    static_assert(std::is_base_of_v<C, T>, "Proxy<T>::call<M>: M must be a member of T (or take T& first)");
    return invoke<T, M>(std::forward<U>(args)...);
  }
};

/// Python's DictProxy: manager.dict<K, V>().
///
///     auto d = manager.dict<int, std::string>();
///     d[1] = "1";                                     // d[1] = '1'
///     std::string s = d[1];  d.get(2);                // std::optional: None when missing
///
/// Keys keep insertion order. Thread safety, memory ordering: as BaseProxy (each call
/// is atomic on the manager).
template <class K, class V>
class DictProxy : public BaseProxy {
  using D = detail::ManagedDict<K, V>;

 public:
  using BaseProxy::BaseProxy;
  DictProxy() = default;

  /// d[k] as an expression: reads (KeyError when missing) or assigns.
  detail::ItemRef<DictProxy, K, V> operator[](K k) const { return {*this, std::move(k)}; }

  V getitem(const K& k) const { return invoke<D, &D::getitem>(k); }
  void setitem(const K& k, V v) const { invoke<D, &D::setitem>(k, std::move(v)); }
  /// del d[k] (KeyError when missing).
  void delitem(const K& k) const { invoke<D, &D::delitem>(k); }
  /// k in d.
  bool contains(const K& k) const { return invoke<D, &D::contains>(k); }
  /// len(d).
  std::size_t len() const { return invoke<D, &D::len>(); }
  std::size_t size() const { return len(); }
  /// d.get(k): nullopt (None) when missing; d.get(k, default).
  std::optional<V> get(const K& k) const { return invoke<D, &D::get>(k); }
  V get(const K& k, V fallback) const { return invoke<D, &D::get_or>(k, std::move(fallback)); }
  /// d.pop(k) (KeyError when missing); d.pop(k, default).
  V pop(const K& k) const { return invoke<D, &D::pop>(k); }
  V pop(const K& k, V fallback) const { return invoke<D, &D::pop_or>(k, std::move(fallback)); }
  /// d.popitem(): the last inserted item (KeyError when empty).
  std::pair<K, V> popitem() const { return invoke<D, &D::popitem>(); }
  V setdefault(const K& k, V fallback) const { return invoke<D, &D::setdefault>(k, std::move(fallback)); }
  void update(std::vector<std::pair<K, V>> items) const { invoke<D, &D::update>(std::move(items)); }
  void clear() const { invoke<D, &D::clear>(); }
  std::vector<K> keys() const { return invoke<D, &D::keys>(); }
  std::vector<V> values() const { return invoke<D, &D::values>(); }
  std::vector<std::pair<K, V>> items() const { return invoke<D, &D::all_items>(); }
  /// d.copy(): a snapshot of the items, in insertion order.
  std::vector<std::pair<K, V>> copy() const { return items(); }
};

/// Python's ListProxy: manager.list<T>(). Indices may be negative, as in Python.
///
///     auto l = manager.list<int>({0, 1, 2});
///     l.append(3);  l.reverse();  int first = l[0];  l[1] = 7;
///
/// Thread safety, memory ordering: as BaseProxy.
template <class T>
class ListProxy : public BaseProxy {
  using L = detail::ManagedList<T>;

 public:
  using BaseProxy::BaseProxy;
  ListProxy() = default;

  /// l[i] as an expression: reads or assigns (IndexError when out of range).
  detail::ItemRef<ListProxy, long long, T> operator[](long long i) const { return {*this, i}; }

  T getitem(long long i) const { return invoke<L, &L::getitem>(i); }
  void setitem(long long i, T v) const { invoke<L, &L::setitem>(i, std::move(v)); }
  void delitem(long long i) const { invoke<L, &L::delitem>(i); }
  std::size_t len() const { return invoke<L, &L::len>(); }
  std::size_t size() const { return len(); }
  /// l[start:stop] (clamped, negative from the end).
  std::vector<T> slice(long long start, long long stop) const { return invoke<L, &L::slice>(start, stop); }
  /// list(l) / l[:]: a copy of every element.
  std::vector<T> copy() const { return invoke<L, &L::copy>(); }
  void append(T v) const { invoke<L, &L::append>(std::move(v)); }
  void extend(std::vector<T> more) const { invoke<L, &L::extend>(std::move(more)); }
  void insert(long long i, T v) const { invoke<L, &L::insert>(i, std::move(v)); }
  /// l.pop() / l.pop(i) (IndexError when empty or out of range).
  T pop(long long i = -1) const { return invoke<L, &L::pop>(i); }
  bool contains(const T& v) const { return invoke<L, &L::contains>(v); }
  std::size_t count(const T& v) const { return invoke<L, &L::count>(v); }
  /// l.index(v) (ValueError when absent).
  std::size_t index(const T& v) const { return invoke<L, &L::index>(v); }
  /// l.remove(v): the first equal element (ValueError when absent).
  void remove(const T& v) const { invoke<L, &L::remove>(v); }
  void reverse() const { invoke<L, &L::reverse>(); }
  /// l.sort(reverse=...): by operator<, stable.
  void sort(bool reverse = false) const { invoke<L, &L::sort>(reverse); }
  void clear() const { invoke<L, &L::clear>(); }
};

/// Python's ArrayProxy: manager.Array<T>(values) — a fixed-length sequence.
template <class T>
class ArrayProxy : public BaseProxy {
  using L = detail::ManagedList<T>;

 public:
  using BaseProxy::BaseProxy;
  ArrayProxy() = default;
  T getitem(long long i) const { return invoke<L, &L::getitem>(i); }
  void setitem(long long i, T v) const { invoke<L, &L::setitem>(i, std::move(v)); }
  detail::ItemRef<ArrayProxy, long long, T> operator[](long long i) const { return {*this, i}; }
  std::size_t len() const { return invoke<L, &L::len>(); }
  std::size_t size() const { return len(); }
  std::vector<T> copy() const { return invoke<L, &L::copy>(); }
};

/// Python's NamespaceProxy: manager.Namespace(). Attributes of any picklable type.
///
///     auto ns = manager.Namespace();
///     ns.setattr("x", 10);                            // ns.x = 10
///     int x = ns.getattr<int>("x");                   // ns.x (AttributeError if unset)
///
/// Thread safety, memory ordering: as BaseProxy.
class NamespaceProxy : public BaseProxy {
  using N = detail::ManagedNamespace;

 public:
  using BaseProxy::BaseProxy;
  NamespaceProxy() = default;

  template <class T>
  void setattr(const std::string& name, const T& value) const {
    invoke<N, &N::setattr>(name, pyconc::pickle::dumps(value));
  }
  /// The attribute as a T (AttributeError when unset; ValueError when it is not a T).
  template <class T>
  T getattr(const std::string& name) const {
    auto bytes = invoke<N, &N::getattr>(name);
    return pyconc::pickle::loads<T>(bytes);
  }
  bool hasattr(const std::string& name) const { return invoke<N, &N::hasattr>(name); }
  void delattr(const std::string& name) const { invoke<N, &N::delattr>(name); }
  /// The attribute names, in the order they were first set (Python's vars(ns)).
  std::vector<std::string> names() const { return invoke<N, &N::names>(); }
};

/// Python's ValueProxy: manager.Value<T>(v); value()/set_value() (Python's .value),
/// get()/set().
template <class T>
class ValueProxy : public BaseProxy {
  using VT = detail::ManagedValue<T>;

 public:
  using BaseProxy::BaseProxy;
  ValueProxy() = default;
  T get() const { return invoke<VT, &VT::get>(); }
  void set(T v) const { invoke<VT, &VT::set>(std::move(v)); }
  T value() const { return get(); }
  void set_value(T v) const { set(std::move(v)); }
};

/// Python's BaseManager(address=None, authkey=None, ...) keywords.
struct ManagerOptions {
  /// Where the server listens (an AF_UNIX path or '\0' abstract name). None: a fresh
  /// abstract name (start()); connect() needs one.
  std::optional<std::string> address;
  /// The key clients must prove they hold. None: current_process().authkey().
  std::optional<std::vector<std::byte>> authkey;
  /// The start method of the server process ("fork", "spawn", "forkserver"). None: the
  /// default (get_start_method()).
  std::optional<std::string> ctx;
  /// How long shutdown() waits for the server to exit before it terminates it.
  double shutdown_timeout = 1.0;
};

class Server;

/// A manager (Python's multiprocessing.managers.BaseManager): start() runs a server
/// process that holds objects; create<T>(args) makes a T there and returns a Proxy.
///
///     managers::BaseManager manager;
///     manager.start();
///     auto maths = manager.create<Maths>();
///     // ... pass `maths` to Processes; every call runs in the manager
///     manager.shutdown();                             // also done by the destructor
///
/// connect() attaches to a manager another process started (same address and key).
/// An object lives while some process holds a proxy to it; a process that dies gives
/// back its references.
///
/// Thread safety: every member may be called from any thread.
///
/// Memory ordering: create() happens-before the calls through the proxy it returns.
///
/// Differences from Python: no register(): create<T>(args...) makes any T whose
/// constructor arguments are picklable (the C++ type names what Python's typeid names),
/// and calls name the member function, call<&T::m>(args). The server and its clients
/// must run the same program (the server runs the code of the calls). Only AF_UNIX
/// addresses. Not copyable (one manager object owns the server), movable.
class BaseManager {
 public:
  explicit BaseManager(ManagerOptions options = {});
  virtual ~BaseManager();
  BaseManager(BaseManager&&) noexcept;
  BaseManager& operator=(BaseManager&&) noexcept;
  BaseManager(const BaseManager&) = delete;
  BaseManager& operator=(const BaseManager&) = delete;

  /// Starts the server process (Python's start(initializer)); returns once it listens.
  /// RuntimeError when already started or connected ("Already started server" in
  /// Python's ProcessError wording).
  void start(void (*initializer)() = nullptr);
  /// Attaches to a running server at options.address (Python's connect()).
  void connect();
  /// Asks the server to stop and waits for its process (terminates it after
  /// shutdown_timeout). Proxies then raise on use. Idempotent; no-op when connected.
  void shutdown();
  /// Waits for the server process to exit (started managers only).
  void join();
  bool join(Seconds timeout);
  /// A Server that runs in this process (Python's get_server()): serve_forever().
  Server get_server();

  /// The address clients connect to.
  std::string address() const;
  /// The server process (started managers; nullptr otherwise).
  const multiprocessing::Process* process() const noexcept;
  /// The number of objects the server holds (Python's _number_of_objects()).
  std::size_t number_of_objects() const;

  /// Makes a T in the server from args... (Python: manager.T(args)).
  template <class T, class... A>
  Proxy<T> create(A&&... args) {
    return Proxy<T>(make<T>(std::forward<A>(args)...));
  }

 protected:
  template <class T, class... A>
  std::shared_ptr<detail::ProxyState> make(A&&... args) {
    static_assert((pyconc::pickle::Picklable<std::decay_t<A>> && ...),
                  "BaseManager::create: every constructor argument must be picklable");
    // As invoke(): the arguments (a proxy among them) live until the reply.
    std::tuple<std::decay_t<A>...> values(std::forward<A>(args)...);
    detail::Bytes a;
    if constexpr (sizeof...(A) > 0) a = pyconc::pickle::dumps(values);
    return make_object(detail::address_of<&detail::make_object<T, std::decay_t<A>...>>(),
                       detail::address_of<&detail::destroy_object<T>>(), detail::type_tag<T>(), std::move(a));
  }
  std::shared_ptr<detail::ProxyState> make_object(const detail::CodeAddress& factory,
                                                  const detail::CodeAddress& destroy, std::uint64_t type,
                                                  detail::Bytes args);

 private:
  const std::string& checked_address() const;
  struct State;
  std::unique_ptr<State> state_;
};

/// Python's SyncManager: a BaseManager with dict, list, Namespace, Value, Array, and
/// the synchronisation objects. Manager() returns one already started.
///
///     auto manager = multiprocessing::Manager();
///     auto d = manager.dict<int, std::string>();
///     auto l = manager.list<int>({0, 1, 2, 3});
///     Process p(f, d, l);  p.start();  p.join();
///
/// Lock(), Event(), Queue<T>() and the other synchronisation objects return pyconc's
/// process-shared objects (they work in every process of the program, so no proxy is
/// needed); dict/list/Namespace/Value/Array return proxies.
///
/// Thread safety, memory ordering: as BaseManager.
class SyncManager : public BaseManager {
 public:
  using BaseManager::BaseManager;

  template <class K, class V>
  DictProxy<K, V> dict(std::vector<std::pair<K, V>> items = {}) {
    return DictProxy<K, V>(make<detail::ManagedDict<K, V>>(std::move(items)));
  }
  template <class K, class V>
  DictProxy<K, V> dict(std::initializer_list<std::pair<K, V>> items) {
    return dict<K, V>(std::vector<std::pair<K, V>>(items));
  }
  template <class T>
  ListProxy<T> list(std::vector<T> items = {}) {
    return ListProxy<T>(make<detail::ManagedList<T>>(std::move(items), false));
  }
  template <class T>
  ListProxy<T> list(std::initializer_list<T> items) {
    return list<T>(std::vector<T>(items));
  }
  NamespaceProxy Namespace() { return NamespaceProxy(make<detail::ManagedNamespace>()); }
  template <class T>
  ValueProxy<T> Value(T value = T{}) {
    return ValueProxy<T>(make<detail::ManagedValue<T>>(std::move(value)));
  }
  template <class T>
  ArrayProxy<T> Array(std::vector<T> values) {
    return ArrayProxy<T>(make<detail::ManagedList<T>>(std::move(values), true));
  }
  template <class T>
  ArrayProxy<T> Array(std::initializer_list<T> values) {
    return Array<T>(std::vector<T>(values));
  }

  template <class T>
  multiprocessing::Queue<T> Queue(long long maxsize = 0) { return multiprocessing::Queue<T>(maxsize); }
  template <class T>
  multiprocessing::JoinableQueue<T> JoinableQueue(long long maxsize = 0) {
    return multiprocessing::JoinableQueue<T>(maxsize);
  }
  template <class... A>
  multiprocessing::Lock Lock(A&&... a) { return multiprocessing::Lock(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::RLock RLock(A&&... a) { return multiprocessing::RLock(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::Semaphore Semaphore(A&&... a) { return multiprocessing::Semaphore(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::BoundedSemaphore BoundedSemaphore(A&&... a) {
    return multiprocessing::BoundedSemaphore(std::forward<A>(a)...);
  }
  template <class... A>
  multiprocessing::Condition Condition(A&&... a) { return multiprocessing::Condition(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::Event Event(A&&... a) { return multiprocessing::Event(std::forward<A>(a)...); }
  template <class... A>
  multiprocessing::Barrier Barrier(A&&... a) { return multiprocessing::Barrier(std::forward<A>(a)...); }
};

/// A manager's server running in the calling process (Python's Server, from
/// BaseManager::get_server()): serve_forever() answers clients until a shutdown()
/// request (or stop()).
///
/// Thread safety: stop() may be called from any thread; it ends serve_forever().
///
/// Memory ordering: none of its own.
///
/// Differences from Python: stop() is pyconc's (Python stops it only by a client's
/// shutdown request or a signal).
class Server {
 public:
  Server(std::optional<std::string> address, std::vector<std::byte> authkey);
  ~Server();
  Server(Server&&) noexcept;
  Server& operator=(Server&&) noexcept;
  /// Answers clients until shutdown.
  void serve_forever();
  void stop() noexcept;
  std::string address() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace pyconc::multiprocessing::managers

namespace pyconc::multiprocessing {

using managers::SyncManager;

/// Python's multiprocessing.Manager(): a started SyncManager (its server runs in a new
/// process; shut down by its destructor or shutdown()).
inline managers::SyncManager Manager(managers::ManagerOptions options = {}) {
  managers::SyncManager m(std::move(options));
  m.start();
  return m;
}

inline managers::SyncManager Context::Manager() const {
  return multiprocessing::Manager({.ctx = start_method()});
}

}  // namespace pyconc::multiprocessing
