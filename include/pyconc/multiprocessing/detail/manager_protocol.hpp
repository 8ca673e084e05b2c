// What a Manager's clients and server say to each other, and the typed operations the
// server runs for them.
//
// The server holds type-erased objects (void* + destroy function). A client names the
// code to run by its CodeAddress (module + offset, as a spawn child's entry point):
// a factory `make_object<T, Args...>` for create, an `invoke_op<T, M>` instantiation
// for each method call. Every process of the program runs the same binary, so the
// server resolves the address to the same instantiation. Each object carries the
// tag of its type; a call whose tag differs raises TypeError-like ValueError instead of
// running code on the wrong type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "pyconc/multiprocessing/detail/process_target.hpp"
#include "pyconc/pickle.hpp"

namespace pyconc::multiprocessing::managers {

/// Names a shared object: the address of its manager, its id there, its type's tag.
struct Token {
  std::string address;
  std::uint64_t id = 0;
  std::uint64_t type = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(address, id, type);
  }
  friend bool operator==(const Token&, const Token&) = default;
};

}  // namespace pyconc::multiprocessing::managers

namespace pyconc::multiprocessing::managers::detail {

using Bytes = std::vector<std::byte>;
using multiprocessing::detail::CodeAddress;

/// Runs one method on the object: unpickles the arguments from `args`, pickles the
/// result into `out`.
using Op = void (*)(void* object, std::span<const std::byte> args, Bytes& out);
/// Makes an object from pickled constructor arguments.
using Factory = void* (*)(std::span<const std::byte> args);
using Destroy = void (*)(void* object) noexcept;

enum class Kind : std::uint8_t {
  hello = 1,  // id = the client's pid
  create,     // op = factory, op2 = destroy, type, args = constructor arguments
  call,       // id, type, op, args
  incref,     // id
  decref,     // id
  shutdown,
  count,      // the number of live objects (Python's _number_of_objects)
  ping,       // nothing (connect() checks the manager answers)
};

struct Request {
  Kind kind = Kind::ping;
  std::uint64_t id = 0;
  std::uint64_t type = 0;
  CodeAddress op;
  CodeAddress op2;
  Bytes args;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(kind, id, type, op, op2, args);
  }
};

/// ok: payload is the pickled result; else payload is a dump_exception().
struct Reply {
  bool ok = false;
  Bytes payload;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(ok, payload);
  }
};

/// A stable tag of T: the same in every process of the program.
std::uint64_t hash_type_name(const char* name) noexcept;
template <class T>
std::uint64_t type_tag() noexcept {
  static const std::uint64_t tag = hash_type_name(typeid(T).name());
  return tag;
}

/// The CodeAddress of the function `Fn`, computed once.
template <auto Fn>
const CodeAddress& address_of() {
  static const CodeAddress where = multiprocessing::detail::code_address(reinterpret_cast<const void*>(Fn));
  return where;
}

template <class T, class... Args>
void* make_object(std::span<const std::byte> args) {
  if constexpr (sizeof...(Args) == 0) {
    (void)args;
    return new T();
  } else {
    auto values = pyconc::pickle::loads<std::tuple<Args...>>(args);
    return std::apply([](Args&... a) { return new T(std::move(a)...); }, values);
  }
}

template <class T>
void destroy_object(void* object) noexcept {
  delete static_cast<T*>(object);
}

// What a method pointer or a function pointer (taking the object first) looks like.
template <class F>
struct fn_traits;
#define PYCONC_MEMBER_TRAITS(QUAL)                                 \
  template <class C, class R, class... A>                          \
  struct fn_traits<R (C::*)(A...) QUAL> {                          \
    using Class = C;                                               \
    using Result = std::decay_t<R>;                                \
    using Params = std::tuple<A...>;                               \
    using Args = std::tuple<std::decay_t<A>...>;                   \
  };
PYCONC_MEMBER_TRAITS()
PYCONC_MEMBER_TRAITS(const)
PYCONC_MEMBER_TRAITS(noexcept)
PYCONC_MEMBER_TRAITS(const noexcept)
#undef PYCONC_MEMBER_TRAITS
template <class C, class R, class... A>
struct fn_traits<R (*)(C&, A...)> {
  using Class = C;
  using Result = std::decay_t<R>;
  using Params = std::tuple<A...>;
  using Args = std::tuple<std::decay_t<A>...>;
};
template <class C, class R, class... A>
struct fn_traits<R (*)(C&, A...) noexcept> : fn_traits<R (*)(C&, A...)> {};

template <class T, auto M, class... P, std::size_t... I>
decltype(auto) apply_op(T& object, std::tuple<std::decay_t<P>...>& args, std::tuple<P...>*, std::index_sequence<I...>) {
  return std::invoke(M, object, static_cast<P&&>(std::get<I>(args))...);
}

/// The server side of a call: M on the T at `object`.
template <class T, auto M>
void invoke_op(void* object, std::span<const std::byte> in, Bytes& out) {
  using Tr = fn_traits<decltype(M)>;
  using Args = typename Tr::Args;
  Args args = pyconc::pickle::detail::make_blank<Args>();
  if constexpr (std::tuple_size_v<Args> > 0) args = pyconc::pickle::loads<Args>(in);
  auto& obj = *static_cast<T*>(object);
  constexpr auto seq = std::make_index_sequence<std::tuple_size_v<Args>>();
  if constexpr (std::is_void_v<typename Tr::Result>) {
    apply_op<T, M>(obj, args, static_cast<typename Tr::Params*>(nullptr), seq);
    out.clear();
  } else {
    typename Tr::Result r = apply_op<T, M>(obj, args, static_cast<typename Tr::Params*>(nullptr), seq);
    out = pyconc::pickle::dumps(r);
  }
}

/// A proxy's link to its object, shared by the copies of one proxy in this process.
/// Keeps this process's reference on the server (see managers.cpp).
class ProxyState {
 public:
  /// `counted`: the server already holds a reference of this process for the object
  /// (it was just created here).
  ProxyState(Token token, Bytes authkey, bool counted);
  ~ProxyState();
  ProxyState(const ProxyState&) = delete;
  ProxyState& operator=(const ProxyState&) = delete;

  const Token& token() const noexcept { return token_; }
  const Bytes& authkey() const noexcept { return authkey_; }
  /// Runs `op` on the object; the pickled result (raises what the method raised).
  Bytes call(const CodeAddress& op, Bytes args);

 private:
  Token token_;
  Bytes authkey_;
  int pid_;
};

/// One request/reply with the manager at `address`, over this thread's connection to
/// it (made and authenticated on first use). Raises the remote exception.
Bytes request(const std::string& address, const Bytes& authkey, Request& req);

/// Closes this process's idle connections to the manager at `address`.
void forget_links(const std::string& address);

/// Whether this thread is pickling the arguments of a Process being started (only then
/// does a proxy carry its authkey, as in Python).
bool pickling_for_child() noexcept;

/// The authkey of this process (current_process().authkey()).
Bytes process_authkey();

}  // namespace pyconc::multiprocessing::managers::detail
