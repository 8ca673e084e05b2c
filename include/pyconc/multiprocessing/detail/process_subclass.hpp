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

template <class T>
void subclass_main(std::span<const std::byte> payload, void (*loaded)()) {
  T object;
  if constexpr (picklable_v<T>) object = pyconc::pickle::loads<T>(payload);
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
  static_assert(std::is_default_constructible_v<T> && std::is_move_assignable_v<T>,
                "PYCONC_REGISTER_PROCESS(T): the spawn child builds a T with its default constructor "
                "(then loads its members when T has a cereal serialize()): T must be "
                "default-constructible and move-assignable");
  register_process_subclass(typeid(T), &subclass_main<T>, &pickle_subclass<T>);
  return true;
}
}  // namespace detail

}  // namespace pyconc::multiprocessing
