// Clang thread-safety annotations (no-ops on other compilers).
//
// Every internal mutex of pyconc and every field it guards carries these, and one CI
// build runs clang with -Wthread-safety -Werror (the `thread-safety` preset).
#pragma once

#if defined(__clang__)
#define PYCONC_TSA(x) __attribute__((x))
#else
#define PYCONC_TSA(x)
#endif

#define PYCONC_CAPABILITY(x) PYCONC_TSA(capability(x))
#define PYCONC_SCOPED_CAPABILITY PYCONC_TSA(scoped_lockable)
#define PYCONC_GUARDED_BY(x) PYCONC_TSA(guarded_by(x))
#define PYCONC_PT_GUARDED_BY(x) PYCONC_TSA(pt_guarded_by(x))
#define PYCONC_REQUIRES(...) PYCONC_TSA(requires_capability(__VA_ARGS__))
#define PYCONC_ACQUIRE(...) PYCONC_TSA(acquire_capability(__VA_ARGS__))
#define PYCONC_RELEASE(...) PYCONC_TSA(release_capability(__VA_ARGS__))
#define PYCONC_TRY_ACQUIRE(...) PYCONC_TSA(try_acquire_capability(__VA_ARGS__))
#define PYCONC_EXCLUDES(...) PYCONC_TSA(locks_excluded(__VA_ARGS__))
#define PYCONC_RETURN_CAPABILITY(x) PYCONC_TSA(lock_returned(x))
#define PYCONC_NO_THREAD_SAFETY_ANALYSIS PYCONC_TSA(no_thread_safety_analysis)
