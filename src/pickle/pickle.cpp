// The errors pyconc::pickle raises for data that is not a complete value of the
// requested type: out of line, so the inline encoders and decoders stay small.
#include <string>

#include "pyconc/pickle.hpp"

namespace pyconc::pickle::detail {

void raise_truncated(std::size_t wanted, std::size_t left) {
  throw ValueError("pickle data was truncated: " + std::to_string(wanted) + " more bytes needed, " +
                   std::to_string(left) + " left");
}

void raise_bad_count(std::uint64_t count, std::size_t left) {
  throw ValueError("pickle data is corrupt: a length prefix of " + std::to_string(count) +
                   " elements cannot fit in the " + std::to_string(left) + " bytes left");
}

void raise_over_budget(std::size_t count, std::size_t each, std::size_t left, std::size_t budget) {
  throw ValueError("pickle data is corrupt: " + std::to_string(count) + " elements of " + std::to_string(each) +
                   " bytes would exceed the allocation budget (" + std::to_string(left) + " of " +
                   std::to_string(budget) + " bytes left; the budget is " +
                   std::to_string(kBudgetAllowance >> 20) + " MiB + " + std::to_string(kBudgetPerInputByte) +
                   " x the input size)");
}

void raise_invalid(const char* what, unsigned value) {
  throw ValueError(std::string("pickle data is corrupt: invalid ") + what + " " + std::to_string(value));
}

void raise_too_deep() {
  throw ValueError("pickle: user types nested deeper than " + std::to_string(kMaxDepth) + " levels");
}

void raise_duplicate_key() { throw ValueError("pickle data is corrupt: a key appears twice in a map or set"); }

void raise_trailing(std::size_t left) {
  throw ValueError("pickle data has " + std::to_string(left) +
                   " trailing bytes (not of the requested type, or corrupt)");
}

void raise_size_mismatch(std::size_t got, std::size_t want) {
  if (got < want) raise_truncated(want, got);
  raise_trailing(got - want);
}

void raise_user_load_failed(const char* what) {
  throw ValueError(std::string("pickle data is corrupt or not of the requested type: ") + what);
}

}  // namespace pyconc::pickle::detail
