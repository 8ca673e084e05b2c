// Start methods, contexts and freeze_support().
#include "pyconc/multiprocessing/context.hpp"

#include <atomic>
#include <string>

#include "pyconc/detail/lock_guard.hpp"
#include "process_internal.hpp"

namespace pyconc::multiprocessing::detail {

namespace {

std::atomic<bool> g_freeze_support_called{false};

struct Default {
  threading::Lock mutex;
  std::optional<std::string> method PYCONC_GUARDED_BY(mutex);
};

Default& default_method() {
  static Default* d = new Default;  // leaked: used during exit
  return *d;
}

void check_method(const std::string& method) {
  if (method != "fork" && method != "spawn" && method != "forkserver")
    throw ValueError("cannot find context for '" + method + "'");
}

}  // namespace

std::string start_method_of(const ProcessState& st) { return st.method ? *st.method : get_start_method(); }

void launch(ProcessState& st) {
  std::string method = start_method_of(st);
  if (method == "fork") return launch_fork(st);
  throw NotImplementedError("the '" + method + "' start method is not available yet");
}

bool freeze_support_called() noexcept { return g_freeze_support_called.load(); }

}  // namespace pyconc::multiprocessing::detail

namespace pyconc::multiprocessing {

void Process::set_start_method(const std::string& method) {
  detail::check_method(method);
  state_ref().method = method;
}

Context get_context(std::optional<std::string> method) {
  if (!method) return Context(get_start_method());
  detail::check_method(*method);
  return Context(*method);
}

void set_start_method(std::optional<std::string> method, bool force) {
  if (method) detail::check_method(*method);
  auto& d = detail::default_method();
  pyconc::detail::LockGuard guard(d.mutex);
  if (d.method && !force) throw RuntimeError("context has already been set");
  d.method = std::move(method);
}

std::string get_start_method() {
  auto& d = detail::default_method();
  pyconc::detail::LockGuard guard(d.mutex);
  if (!d.method) d.method = "fork";
  return *d.method;
}

std::optional<std::string> get_start_method(bool allow_none) {
  if (!allow_none) return get_start_method();
  auto& d = detail::default_method();
  pyconc::detail::LockGuard guard(d.mutex);
  return d.method;
}

std::vector<std::string> get_all_start_methods() { return {"fork", "spawn", "forkserver"}; }

void freeze_support(int argc, char** argv) {
  (void)argc;
  (void)argv;
  detail::g_freeze_support_called = true;
}

}  // namespace pyconc::multiprocessing
