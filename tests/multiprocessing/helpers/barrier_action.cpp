// See barrier_action.hpp.
#include "barrier_action.hpp"

#include <atomic>

namespace {
std::atomic<int> runs{0};
}

void pyconc_test_library_action() { runs.fetch_add(1); }

int pyconc_test_library_action_runs() { return runs.load(); }
