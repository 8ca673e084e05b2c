// A Barrier action that lives in a shared object of its own (libmp_barrier_action.so,
// linked into test_multiprocessing_sync_process): a spawn or forkserver child maps it at
// another distance from the program than its parent does.
#pragma once

// extern "C": a test finds them by name with dlsym() in a copy of the library.
extern "C" {
/// Counts one run in this process.
__attribute__((visibility("default"))) void pyconc_test_library_action();
/// How often pyconc_test_library_action() ran in this process (a fork child starts from
/// its parent's count).
__attribute__((visibility("default"))) int pyconc_test_library_action_runs();
}
