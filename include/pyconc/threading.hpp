// pyconc::threading — Python's `threading` module in C++.
//
//     #include <pyconc/threading.hpp>
//     namespace threading = pyconc::threading;
//
// Thread, current_thread, main_thread, active_count, enumerate, get_ident,
// get_native_id, excepthook, stack_size, TIMEOUT_MAX, local, Lock, RLock, Condition,
// Semaphore, BoundedSemaphore, Event, Timer, Barrier; exceptions in <pyconc/errors.hpp>.
// See docs/threading.md for the Python → C++ table.
#pragma once

#include "pyconc/errors.hpp"
#include "pyconc/threading/barrier.hpp"
#include "pyconc/threading/condition.hpp"
#include "pyconc/threading/event.hpp"
#include "pyconc/threading/local.hpp"
#include "pyconc/threading/lock.hpp"
#include "pyconc/threading/rlock.hpp"
#include "pyconc/threading/semaphore.hpp"
#include "pyconc/threading/thread.hpp"
#include "pyconc/threading/timeout.hpp"
#include "pyconc/threading/timer.hpp"

namespace pyconc::threading {
using pyconc::BrokenBarrierError;
}
