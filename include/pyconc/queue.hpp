// pyconc::queue — Python's `queue` module in C++.
//
//     #include <pyconc/queue.hpp>
//     namespace queue = pyconc::queue;
//
// Queue, LifoQueue, PriorityQueue, SimpleQueue; exceptions queue::Empty, queue::Full,
// queue::ShutDown (in <pyconc/errors.hpp>). See docs/queue.md for the Python → C++ table.
#pragma once

#include "pyconc/errors.hpp"
#include "pyconc/queue/queue.hpp"
#include "pyconc/queue/simple_queue.hpp"
