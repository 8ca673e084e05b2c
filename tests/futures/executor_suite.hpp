// The Executor test suite, written once and run against every executor type
// (ThreadPoolExecutor now; ProcessPoolExecutor under each start method and
// MPIPoolExecutor later), as CPython runs one ExecutorTest mixin against each executor.
//
// A test file instantiates it with a *factory* type:
//
//     struct MyFactory {
//       using Gate = ...;                                  // see below
//       static std::unique_ptr<SomeExecutor> make(int workers);
//       static constexpr int kPrefetch = 0;                // optional, see below
//     };
//     INSTANTIATE_TYPED_TEST_SUITE_P(Mine, ExecutorSuite, ::testing::Types<MyFactory>);
//
// The suite uses only the Executor interface (submit, map, shutdown, the destructor)
// and Future. Every call it submits is a plain function (a function pointer, possibly
// a template instance) with copyable arguments, so that an executor whose workers live
// in other processes or on other ranks can run it too (docs/conventions.md, "Callables
// across processes").
//
// Gate: a one-shot flag shared by the test and the calls it submits, cheap to copy and
// transferable as a call argument; the calls use it to tell the test they started, and
// to block until the test releases them. It needs set(), is_set(), wait() and
// wait(timeout) -> bool. `InProcessGate` (executor_suite_support.hpp) serves in-process
// executors; a process executor passes a handle to a process-shared event.
//
// kPrefetch: how many queued calls beyond the running ones an executor may already have
// handed to a worker, where they can no longer be cancelled (Python's
// ProcessPoolExecutor pre-sends a few). The cancellation tests allow that many to run.
// Default 0.
//
// Exceptions: the calls throw pyconc::ValueError, std::runtime_error and
// pyconc_test::suite::CustomError; an executor that sends exceptions across a process
// boundary must register CustomError for its type to survive the trip.
//
// The parts: executor_suite_support.hpp (gates, calls, fixture), executor_suite_submit_map.hpp
// and executor_suite_shutdown.hpp (the tests); this header registers them all.
#pragma once

#include <gtest/gtest.h>

#include "futures/executor_suite_shutdown.hpp"
#include "futures/executor_suite_submit_map.hpp"
#include "futures/executor_suite_support.hpp"

REGISTER_TYPED_TEST_SUITE_P(ExecutorSuite, SubmitReturnsFuturesWithTheResults, SubmitFromManyThreads,
                            ExceptionsKeepTheirType, FailedCallDoesNotStopTheExecutor, CancelQueuedFuture,
                            MapReturnsResultsInInputOrder, MapIsConsumedLazily, MapFailureRethrowsAtItsPosition,
                            MapZipsToTheShortestRange, MapOfVoidCalls, MapTimeout, MapTimeoutCountsFromTheCall,
                            MapChunksizeBelowOneRaisesValueError, DestroyingMapResultsCancelsUnconsumedWork,
                            ShutdownWaitsForQueuedWork, ShutdownWithoutWaitLetsWorkFinish,
                            SubmitAfterShutdownRaisesRuntimeError, ShutdownCancelFuturesCancelsQueuedWork,
                            ShutdownTwiceIsFine, DestructorWaitsForQueuedWork);
