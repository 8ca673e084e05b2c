// The fork server's life, for the test suites' leak check.
#pragma once

namespace pyconc::multiprocessing::detail {

/// Stops this process's fork server, if one runs, and reaps it (Python's
/// forkserver._forkserver._stop()); the next forkserver start() starts a new one.
/// Children it forked that still run are killed with it (PR_SET_PDEATHSIG): join them
/// first.
void stop_forkserver();

}  // namespace pyconc::multiprocessing::detail
