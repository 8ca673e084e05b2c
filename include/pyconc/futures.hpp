// pyconc::futures — Python's `concurrent.futures` module in C++.
//
//     #include <pyconc/futures.hpp>
//     namespace futures = pyconc::futures;
//
// Future, Executor, ThreadPoolExecutor, wait (FIRST_COMPLETED, FIRST_EXCEPTION,
// ALL_COMPLETED), as_completed; exceptions CancelledError, TimeoutError,
// InvalidStateError, BrokenExecutor, BrokenThreadPool (in <pyconc/errors.hpp>); and
// progress() / ProgressBar, a terminal progress bar in the spirit of tqdm.
// See docs/futures.md for the Python → C++ table.
#pragma once

#include "pyconc/errors.hpp"
#include "pyconc/futures/executor.hpp"
#include "pyconc/futures/future.hpp"
#include "pyconc/futures/progress.hpp"
#include "pyconc/futures/thread_pool.hpp"
#include "pyconc/futures/wait.hpp"
