// How a Process subclass is made startable under spawn and forkserver
// (PYCONC_REGISTER_PROCESS in process.hpp): the child builds the object, loads the
// members the parent pickled, and runs it.
#pragma once

#include <cstddef>
#include <span>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "pyconc/multiprocessing/detail/process_target.hpp"
#include "pyconc/pickle.hpp"

namespace pyconc::multiprocessing {

class Process;

namespace detail {
using SubclassPickler = std::vector<std::byte> (*)(const Process&);
void register_process_subclass(const std::type_info& type, ChildEntry entry, SubclassPickler pickler);
/// In a spawned child: `p` becomes another handle to current_process().
void adopt_current_process(Process& p);

// The object is made once: loaded from the payload when T pickles (from a blank, so a T
// constructible from pickle::for_loading creates no shared object only to replace it),
// else default-constructed.
template <class T>
T make_subclass_object(std::span<const std::byte> payload) {
  if constexpr (picklable_v<T>) return pyconc::pickle::loads<T>(payload);
  else return T();
}

template <class T>
void subclass_main(std::span<const std::byte> payload, void (*loaded)()) {
  T object = make_subclass_object<T>(payload);
  adopt_current_process(object);
  loaded();
  object.run();
}

template <class T>
std::vector<std::byte> pickle_subclass(const Process& p) {
  if constexpr (picklable_v<T>)
    return pyconc::pickle::dumps(static_cast<const T&>(p));
  else
    return {};
}

template <class T>
bool register_process_type() {
  static_assert(std::is_base_of_v<Process, T>, "PYCONC_REGISTER_PROCESS(T): T must derive from multiprocessing::Process");
  static_assert(std::is_move_constructible_v<T> &&
                    (std::is_default_constructible_v<T> || std::is_constructible_v<T, pickle::for_loading_t>),
                "PYCONC_REGISTER_PROCESS(T): the spawn child builds a T with its default constructor, or "
                "from pickle::for_loading when T has that constructor (then loads its members when T has a "
                "cereal serialize()): T must be move-constructible and one of the two");
  register_process_subclass(typeid(T), &subclass_main<T>, &pickle_subclass<T>);
  return true;
}
}  // namespace detail

}  // namespace pyconc::multiprocessing
