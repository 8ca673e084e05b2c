// Tests for futures::ProcessPoolExecutor (Python's concurrent.futures.ProcessPoolExecutor):
// the shared Executor suite under each start method, then what is particular to a pool
// of processes (test_process_pool_executor_death.cpp has worker death).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <pyconc/errors.hpp>
#include <pyconc/multiprocessing.hpp>
#include <pyconc/pickle.hpp>

#include "futures/executor_suite.hpp"
#include "mp_support.hpp"

namespace futures = pyconc::futures;
namespace mp = pyconc::multiprocessing;

PYCONC_REGISTER_EXCEPTION(pyconc_test::suite::CustomError);

namespace {

/// A Gate for workers in other processes: a process-shared Event.
class ProcessGate {
 public:
  ProcessGate() = default;
  explicit ProcessGate(pyconc::pickle::for_loading_t tag) : event_(tag) {}
  void set() const { event_.set(); }
  bool is_set() const { return event_.is_set(); }
  void wait() const { event_.wait(); }
  bool wait(pyconc::Seconds timeout) const { return event_.wait(timeout); }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(event_);
  }

 private:
  mutable mp::Event event_;
};

template <const char* Method>
struct ProcessPoolFactory {
  using Gate = ProcessGate;
  static constexpr int kPrefetch = 1;
  static std::unique_ptr<futures::ProcessPoolExecutor> make(int workers) {
    return std::make_unique<futures::ProcessPoolExecutor>(workers,
                                                         futures::ProcessPoolOptions{.mp_context = mp::get_context(Method)});
  }
};

constexpr char kFork[] = "fork";
constexpr char kSpawn[] = "spawn";
constexpr char kForkserver[] = "forkserver";

using ProcessPoolFactories =
    ::testing::Types<ProcessPoolFactory<kFork>, ProcessPoolFactory<kSpawn>, ProcessPoolFactory<kForkserver>>;

}  // namespace

INSTANTIATE_TYPED_TEST_SUITE_P(ProcessPool, ExecutorSuite, ProcessPoolFactories);
