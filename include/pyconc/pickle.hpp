// pyconc::pickle — what crosses a process boundary (SPEC rule 9).
//
// FIRST CUT (to be replaced by the pickle work: own archives over a byte buffer, a
// zero-overhead path for trivially copyable types, bounded allocation on hostile input,
// exception transport, the Transferable concept). The public calls below are final.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include "pyconc/errors.hpp"

namespace pyconc::pickle {

/// Serialises `value`.
template <class T>
std::vector<std::byte> dumps(const T& value) {
  std::ostringstream out(std::ios::binary);
  {
    cereal::BinaryOutputArchive archive(out);
    archive(value);
  }
  std::string s = std::move(out).str();
  std::vector<std::byte> bytes(s.size());
  if (!s.empty()) std::memcpy(bytes.data(), s.data(), s.size());
  return bytes;
}

/// Deserialises a T; ValueError when `data` is not a complete T.
template <class T>
T loads(std::span<const std::byte> data) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data.data()), data.size()), std::ios::binary);
  T value{};
  try {
    cereal::BinaryInputArchive archive(in);
    archive(value);
  } catch (const std::exception& e) {
    throw ValueError(std::string("pickle data is corrupt or not of the requested type: ") + e.what());
  }
  if (in.peek() != std::char_traits<char>::eof()) throw ValueError("pickle data has trailing bytes");
  return value;
}

}  // namespace pyconc::pickle
