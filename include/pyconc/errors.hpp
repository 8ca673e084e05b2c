// The exception hierarchy of pyconc: Python's exception names, as C++ classes.
//
//   std::exception
//   └── pyconc::Error                          (Python: Exception)
//       ├── RuntimeError
//       │   ├── NotImplementedError
//       │   ├── BrokenBarrierError             (threading)
//       │   └── futures::BrokenExecutor
//       │       ├── futures::BrokenThreadPool
//       │       └── futures::BrokenProcessPool
//       ├── ValueError
//       ├── IndexError, KeyError, AttributeError   (a Manager's proxies raise them)
//       ├── OverflowError
//       ├── EOFError
//       │   └── asyncio::IncompleteReadError
//       ├── OSError                            (errnum())
//       │   ├── TimeoutError                   (errno ETIMEDOUT; also futures' TimeoutError)
//       │   ├── FileExistsError, FileNotFoundError
//       │   └── ConnectionError
//       │       └── BrokenPipeError
//       ├── CancelledError
//       ├── InvalidStateError
//       ├── ExceptionGroup                     (exceptions(): list of exception_ptr)
//       ├── RemoteError                        (a foreign exception: type_name() + message)
//       ├── queue::Empty, queue::Full, queue::ShutDown
//       ├── multiprocessing::ProcessError
//       │   ├── multiprocessing::AuthenticationError
//       │   ├── multiprocessing::TimeoutError
//       │   ├── multiprocessing::OwnerDiedError
//       │   └── multiprocessing::WorkerLostError
//       └── asyncio::LimitOverrunError
//
// Every class keeps Python's name; `type_name()` returns that name (qualified with the
// Python module where Python's is, e.g. "queue.Empty"), which is what pyconc prints in
// "Exception in thread ..." reports and sends across process boundaries.
//
// Differences from Python: Python's TimeoutError derives from OSError, and so does ours;
// NotImplementedError derives from RuntimeError, as in Python. Python's CancelledError
// derives from BaseException (so `except Exception` misses it); C++ has no such split,
// so ours derives from pyconc::Error.
#pragma once

#include <cerrno>
#include <exception>
#include <string>
#include <utility>
#include <vector>

namespace pyconc {

/// Base of every pyconc exception (Python's `Exception`).
class Error : public std::exception {
 public:
  explicit Error(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  /// Python's name of this exception type, e.g. "ValueError".
  virtual const char* type_name() const noexcept { return "Exception"; }

 private:
  std::string message_;
};

#define PYCONC_DEFINE_ERROR(Name, Base, PyName)              \
  class Name : public Base {                                 \
   public:                                                   \
    using Base::Base;                                        \
    const char* type_name() const noexcept override {        \
      return PyName;                                         \
    }                                                        \
  }

PYCONC_DEFINE_ERROR(RuntimeError, Error, "RuntimeError");
PYCONC_DEFINE_ERROR(NotImplementedError, RuntimeError, "NotImplementedError");
PYCONC_DEFINE_ERROR(BrokenBarrierError, RuntimeError, "threading.BrokenBarrierError");
PYCONC_DEFINE_ERROR(ValueError, Error, "ValueError");
PYCONC_DEFINE_ERROR(IndexError, Error, "IndexError");
PYCONC_DEFINE_ERROR(KeyError, Error, "KeyError");
PYCONC_DEFINE_ERROR(AttributeError, Error, "AttributeError");
PYCONC_DEFINE_ERROR(OverflowError, Error, "OverflowError");
PYCONC_DEFINE_ERROR(EOFError, Error, "EOFError");
PYCONC_DEFINE_ERROR(CancelledError, Error, "CancelledError");
PYCONC_DEFINE_ERROR(InvalidStateError, Error, "InvalidStateError");

/// An operating-system error; `errnum()` is the errno value (`errno` is a macro).
class OSError : public Error {
 public:
  OSError(int errnum, const std::string& message) : Error(message), errnum_(errnum) {}
  explicit OSError(const std::string& message) : OSError(0, message) {}
  int errnum() const noexcept { return errnum_; }
  const char* type_name() const noexcept override { return "OSError"; }

 private:
  int errnum_;
};

/// Raises the OSError subclass Python would raise for `errnum` (FileExistsError for
/// EEXIST, BrokenPipeError for EPIPE, ...), with "context: strerror(errnum)" as message.
[[noreturn]] void raise_os_error(int errnum, const std::string& context);

#define PYCONC_DEFINE_OS_ERROR(Name, Base, PyName, DefaultErrno)            \
  class Name : public Base {                                                \
   public:                                                                  \
    using Base::Base;                                                       \
    explicit Name(const std::string& message) : Base(DefaultErrno, message) {} \
    const char* type_name() const noexcept override { return PyName; }      \
  }

PYCONC_DEFINE_OS_ERROR(TimeoutError, OSError, "TimeoutError", ETIMEDOUT);
PYCONC_DEFINE_OS_ERROR(FileExistsError, OSError, "FileExistsError", EEXIST);
PYCONC_DEFINE_OS_ERROR(FileNotFoundError, OSError, "FileNotFoundError", ENOENT);
PYCONC_DEFINE_OS_ERROR(ConnectionError, OSError, "ConnectionError", ECONNRESET);
PYCONC_DEFINE_OS_ERROR(BrokenPipeError, ConnectionError, "BrokenPipeError", EPIPE);

/// Several exceptions raised together (asyncio.TaskGroup, gather). Python's
/// ExceptionGroup(message, exceptions).
class ExceptionGroup : public Error {
 public:
  ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions);
  const std::vector<std::exception_ptr>& exceptions() const noexcept { return exceptions_; }
  const char* type_name() const noexcept override { return "ExceptionGroup"; }

 private:
  std::vector<std::exception_ptr> exceptions_;
};

/// An exception from another process or rank whose C++ type is not known here:
/// carries the original type's name and message.
class RemoteError : public Error {
 public:
  RemoteError(std::string type_name, const std::string& message)
      : Error(type_name + ": " + message), remote_type_(std::move(type_name)) {}
  /// The original exception's type name, e.g. "std::out_of_range".
  const std::string& remote_type() const noexcept { return remote_type_; }
  const char* type_name() const noexcept override { return "RemoteError"; }

 private:
  std::string remote_type_;
};

namespace queue {
PYCONC_DEFINE_ERROR(Empty, Error, "queue.Empty");
PYCONC_DEFINE_ERROR(Full, Error, "queue.Full");
PYCONC_DEFINE_ERROR(ShutDown, Error, "queue.ShutDown");
}  // namespace queue

namespace futures {
PYCONC_DEFINE_ERROR(BrokenExecutor, RuntimeError, "concurrent.futures.BrokenExecutor");
PYCONC_DEFINE_ERROR(BrokenThreadPool, BrokenExecutor,
                    "concurrent.futures.thread.BrokenThreadPool");
PYCONC_DEFINE_ERROR(BrokenProcessPool, BrokenExecutor,
                    "concurrent.futures.process.BrokenProcessPool");
using pyconc::CancelledError;
using pyconc::InvalidStateError;
using pyconc::TimeoutError;
}  // namespace futures

namespace multiprocessing {
PYCONC_DEFINE_ERROR(ProcessError, Error, "multiprocessing.ProcessError");
PYCONC_DEFINE_ERROR(AuthenticationError, ProcessError, "multiprocessing.AuthenticationError");
PYCONC_DEFINE_ERROR(TimeoutError, ProcessError, "multiprocessing.TimeoutError");
/// A process-shared lock's holder died while holding it; the lock was reset and the
/// data it guarded may be inconsistent. The next acquire proceeds normally.
PYCONC_DEFINE_ERROR(OwnerDiedError, ProcessError, "multiprocessing.OwnerDiedError");
/// A pool worker died (killed, crashed, exited) while it held this task; the message
/// names the worker's pid and its exit code or signal. The pool replaced the worker.
PYCONC_DEFINE_ERROR(WorkerLostError, ProcessError, "multiprocessing.WorkerLostError");
}  // namespace multiprocessing

namespace asyncio {
using pyconc::CancelledError;
using pyconc::InvalidStateError;
using pyconc::TimeoutError;
/// Python's asyncio.IncompleteReadError: EOF before the expected bytes arrived.
class IncompleteReadError : public EOFError {
 public:
  IncompleteReadError(std::string partial, long long expected);
  const std::string& partial() const noexcept { return partial_; }
  /// -1 stands for Python's None (readuntil: no size was expected).
  long long expected() const noexcept { return expected_; }
  const char* type_name() const noexcept override { return "asyncio.IncompleteReadError"; }

 private:
  std::string partial_;
  long long expected_;
};
PYCONC_DEFINE_ERROR(LimitOverrunError, Error, "asyncio.LimitOverrunError");
}  // namespace asyncio

#undef PYCONC_DEFINE_OS_ERROR
#undef PYCONC_DEFINE_ERROR

/// The name under which an in-flight exception is reported: Python's name for pyconc
/// errors, the demangled C++ type otherwise ("std::out_of_range", "int").
std::string exception_type_name(const std::exception_ptr& error);

/// "TYPE: message" for an exception_ptr, as Python's traceback's last line.
std::string describe_exception(const std::exception_ptr& error);

}  // namespace pyconc
