// Exception transport: the registry of exception types that cross processes as
// themselves, and dump_exception / load_exception / raise_exception.
#include "pyconc/pickle/exceptions.hpp"

#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <typeindex>
#include <unordered_map>
#include <utility>

#include "pyconc/detail/annotations.hpp"
#include "pyconc/detail/lock_guard.hpp"
#include "pyconc/pickle.hpp"
#include "pyconc/threading/lock.hpp"

namespace pyconc::pickle {
namespace detail {
namespace {

// ExceptionGroups nest; hostile input must not recurse without bound.
constexpr int kMaxGroupDepth = 100;

using Wire = std::tuple<std::string, std::string, std::vector<std::byte>>;

std::exception_ptr load_exception_at(std::span<const std::byte> data, int depth);

void save_nothing(const std::exception&, std::vector<std::byte>&) {}

template <class E>
ExceptionCodec message_codec(std::string name) {
  return {std::move(name), &typeid(E), save_nothing,
          [](const std::string& message, std::span<const std::byte>, int) {
            return std::make_exception_ptr(E(message));
          }};
}

template <class E>
ExceptionCodec pyconc_codec() {
  return message_codec<E>(E(std::string()).type_name());
}

template <class E>
ExceptionCodec os_codec() {
  return {E(0, std::string()).type_name(), &typeid(E),
          [](const std::exception& error, std::vector<std::byte>& payload) {
            auto os = dynamic_cast<const OSError*>(&error);
            dump_into(payload, os ? os->errnum() : 0);
          },
          [](const std::string& message, std::span<const std::byte> payload, int) {
            return std::make_exception_ptr(E(loads<int>(payload), message));
          }};
}

template <class E>
ExceptionCodec no_message_codec(std::string name) {
  return {std::move(name), &typeid(E), save_nothing,
          [](const std::string&, std::span<const std::byte>, int) { return std::make_exception_ptr(E()); }};
}

std::string group_suffix(std::size_t n) {
  return " (" + std::to_string(n) + " sub-exception" + (n == 1 ? "" : "s") + ")";
}

bool strip_suffix(std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size() || s.compare(s.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  s.resize(s.size() - suffix.size());
  return true;
}

ExceptionCodec group_codec() {
  return {"ExceptionGroup", &typeid(ExceptionGroup),
          [](const std::exception& error, std::vector<std::byte>& payload) {
            std::vector<std::vector<std::byte>> subs;
            if (auto group = dynamic_cast<const ExceptionGroup*>(&error))
              for (const auto& sub : group->exceptions()) subs.push_back(dump_exception(sub));
            dump_into(payload, subs);
          },
          [](const std::string& message, std::span<const std::byte> payload, int depth) {
            auto subs = loads<std::vector<std::vector<std::byte>>>(payload);
            std::vector<std::exception_ptr> errors;
            errors.reserve(subs.size());
            for (const auto& sub : subs) errors.push_back(load_exception_at(sub, depth + 1));
            std::string original = message;
            strip_suffix(original, group_suffix(errors.size()));
            return std::make_exception_ptr(ExceptionGroup(std::move(original), std::move(errors)));
          }};
}

// RemoteError's payload: the remote type's name, and whether the message is a
// RemoteError's own what() ("TYPE: message"), whose prefix is dropped on the way in.
using RemotePayload = std::pair<std::string, bool>;

ExceptionCodec remote_codec() {
  return {"RemoteError", &typeid(RemoteError),
          [](const std::exception& error, std::vector<std::byte>& payload) {
            auto remote = dynamic_cast<const RemoteError*>(&error);
            dump_into(payload, RemotePayload(remote ? remote->remote_type() : std::string("RemoteError"), true));
          },
          [](const std::string& message, std::span<const std::byte> payload, int) {
            auto [type, prefixed] = loads<RemotePayload>(payload);
            std::string text = message;
            std::string prefix = type + ": ";
            if (prefixed && text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
            return std::make_exception_ptr(RemoteError(std::move(type), text));
          }};
}

ExceptionCodec incomplete_read_codec() {
  return {"asyncio.IncompleteReadError", &typeid(asyncio::IncompleteReadError),
          [](const std::exception& error, std::vector<std::byte>& payload) {
            auto e = dynamic_cast<const asyncio::IncompleteReadError*>(&error);
            dump_into(payload, std::pair<std::string, long long>(e ? e->partial() : std::string(), e ? e->expected() : -1));
          },
          [](const std::string&, std::span<const std::byte> payload, int) {
            auto [partial, expected] = loads<std::pair<std::string, long long>>(payload);
            return std::make_exception_ptr(asyncio::IncompleteReadError(std::move(partial), expected));
          }};
}

class Registry {
 public:
  Registry() {
    // pyconc's own (errors.hpp).
    add(pyconc_codec<Error>());
    add(pyconc_codec<RuntimeError>());
    add(pyconc_codec<NotImplementedError>());
    add(pyconc_codec<BrokenBarrierError>());
    add(pyconc_codec<ValueError>());
    add(pyconc_codec<IndexError>());
    add(pyconc_codec<KeyError>());
    add(pyconc_codec<AttributeError>());
    add(pyconc_codec<OverflowError>());
    add(pyconc_codec<EOFError>());
    add(pyconc_codec<CancelledError>());
    add(pyconc_codec<InvalidStateError>());
    add(os_codec<OSError>());
    add(os_codec<TimeoutError>());
    add(os_codec<FileExistsError>());
    add(os_codec<FileNotFoundError>());
    add(os_codec<ConnectionError>());
    add(os_codec<BrokenPipeError>());
    add(group_codec());
    add(remote_codec());
    add(pyconc_codec<queue::Empty>());
    add(pyconc_codec<queue::Full>());
    add(pyconc_codec<queue::ShutDown>());
    add(pyconc_codec<futures::BrokenExecutor>());
    add(pyconc_codec<futures::BrokenThreadPool>());
    add(pyconc_codec<futures::BrokenProcessPool>());
    add(pyconc_codec<multiprocessing::ProcessError>());
    add(pyconc_codec<multiprocessing::AuthenticationError>());
    add(pyconc_codec<multiprocessing::TimeoutError>());
    add(pyconc_codec<multiprocessing::OwnerDiedError>());
    add(pyconc_codec<multiprocessing::WorkerLostError>());
    add(incomplete_read_codec());
    add(pyconc_codec<asyncio::LimitOverrunError>());
    // The standard library's.
    add(no_message_codec<std::exception>("std::exception"));
    add(no_message_codec<std::bad_alloc>("std::bad_alloc"));
    add(message_codec<std::runtime_error>("std::runtime_error"));
    add(message_codec<std::logic_error>("std::logic_error"));
    add(message_codec<std::invalid_argument>("std::invalid_argument"));
    add(message_codec<std::out_of_range>("std::out_of_range"));
    add(message_codec<std::length_error>("std::length_error"));
    add(message_codec<std::domain_error>("std::domain_error"));
    add(message_codec<std::range_error>("std::range_error"));
    add(message_codec<std::overflow_error>("std::overflow_error"));
    add(message_codec<std::underflow_error>("std::underflow_error"));
  }

  void add(ExceptionCodec codec) PYCONC_EXCLUDES(lock_) {
    pyconc::detail::LockGuard guard(lock_);
    std::type_index type(*codec.type);
    auto by_name = by_name_.find(codec.name);
    auto by_type = by_type_.find(type);
    if (by_name != by_name_.end() || by_type != by_type_.end()) {
      if (by_name != by_name_.end() && by_type != by_type_.end() && &by_type->second.get() == &by_name->second) return;
      throw ValueError("pickle: exception type '" + codec.name + "' is already registered" +
                       (by_name != by_name_.end() ? " (the name is taken by another type)"
                                                  : " (under another name)"));
    }
    std::string name = codec.name;
    auto [it, inserted] = by_name_.emplace(std::move(name), std::move(codec));
    by_type_.emplace(type, it->second);
  }

  // Entries are never removed and unordered_map nodes never move: the pointers stay valid.
  const ExceptionCodec* find(const std::type_info& type) PYCONC_EXCLUDES(lock_) {
    pyconc::detail::LockGuard guard(lock_);
    auto it = by_type_.find(std::type_index(type));
    return it == by_type_.end() ? nullptr : &it->second.get();
  }
  const ExceptionCodec* find(const std::string& name) PYCONC_EXCLUDES(lock_) {
    pyconc::detail::LockGuard guard(lock_);
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second;
  }

 private:
  threading::Lock lock_;
  std::unordered_map<std::string, ExceptionCodec> by_name_ PYCONC_GUARDED_BY(lock_);
  std::unordered_map<std::type_index, std::reference_wrapper<ExceptionCodec>> by_type_ PYCONC_GUARDED_BY(lock_);
};

Registry& registry() {
  static Registry instance;
  return instance;
}

std::exception_ptr load_exception_at(std::span<const std::byte> data, int depth) {
  if (depth > kMaxGroupDepth)
    throw ValueError("pickled exception groups nested deeper than " + std::to_string(kMaxGroupDepth) + " levels");
  auto [name, message, payload] = loads<Wire>(data);
  const ExceptionCodec* codec = registry().find(name);
  if (codec == nullptr) {
    // A type registered in the sender only: what it was, as a RemoteError.
    return std::make_exception_ptr(RemoteError(std::move(name), message));
  }
  try {
    return codec->load(message, payload, depth);
  } catch (const ValueError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw ValueError("pickled exception '" + name + "' could not be rebuilt: " + e.what());
  }
}

}  // namespace

void register_exception_codec(ExceptionCodec codec) { registry().add(std::move(codec)); }

}  // namespace detail

std::vector<std::byte> dump_exception(std::exception_ptr error) {
  if (!error) throw ValueError("dump_exception: no exception (a null exception_ptr)");
  detail::Wire wire;
  auto& [name, message, payload] = wire;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    const detail::ExceptionCodec* codec = detail::registry().find(typeid(e));
    if (codec == nullptr) {
      // An unregistered subclass of a pyconc error: as the pyconc type it reports.
      if (auto pe = dynamic_cast<const Error*>(&e)) codec = detail::registry().find(std::string(pe->type_name()));
    }
    message = e.what();
    if (codec != nullptr) {
      try {
        name = codec->name;
        codec->save(e, payload);
      } catch (...) {
        // A user serialize that cannot write the exception: send what it was.
        codec = nullptr;
        payload.clear();
      }
    }
    if (codec == nullptr) {
      name = "RemoteError";
      dump_into(payload, detail::RemotePayload(exception_type_name(error), false));
    }
  } catch (...) {
    name = "RemoteError";
    dump_into(payload, detail::RemotePayload(exception_type_name(error), false));
  }
  return dumps(wire);
}

std::exception_ptr load_exception(std::span<const std::byte> data) { return detail::load_exception_at(data, 0); }

void raise_exception(std::span<const std::byte> data) { std::rethrow_exception(load_exception(data)); }

}  // namespace pyconc::pickle
