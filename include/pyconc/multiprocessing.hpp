// pyconc::multiprocessing — Python's multiprocessing (and multiprocessing.shared_memory).
//
//     #include <pyconc/multiprocessing.hpp>
//     namespace multiprocessing = pyconc::multiprocessing;
//
//     int main(int argc, char** argv) {
//       multiprocessing::freeze_support(argc, argv);   // if __name__ == "__main__":
//       multiprocessing::Queue<int> q;
//       multiprocessing::Process p([](multiprocessing::Queue<int> q) { q.put(42); }, q);
//       p.start();
//       int answer = q.get();
//       p.join();
//     }
//
// docs/multiprocessing.md lists every call with its Python counterpart.
#pragma once

#include "pyconc/multiprocessing/barrier.hpp"
#include "pyconc/multiprocessing/condition.hpp"
#include "pyconc/multiprocessing/connection.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/event.hpp"
#include "pyconc/multiprocessing/listener.hpp"
#include "pyconc/multiprocessing/lock.hpp"
#include "pyconc/multiprocessing/managers.hpp"
#include "pyconc/multiprocessing/pool.hpp"
#include "pyconc/multiprocessing/process_pool_executor.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/multiprocessing/queues.hpp"
#include "pyconc/multiprocessing/rlock.hpp"
#include "pyconc/multiprocessing/semaphore.hpp"
#include "pyconc/multiprocessing/shared_memory.hpp"
#include "pyconc/multiprocessing/sharedctypes.hpp"
#include "pyconc/pickle.hpp"
