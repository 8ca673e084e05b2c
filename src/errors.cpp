#include "pyconc/errors.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <typeinfo>

namespace pyconc {

void raise_os_error(int errnum, const std::string& context) {
  std::string message = context + ": " + std::strerror(errnum);
  switch (errnum) {
    case EEXIST: throw FileExistsError(errnum, message);
    case ENOENT: throw FileNotFoundError(errnum, message);
    case EPIPE: throw BrokenPipeError(errnum, message);
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED: throw ConnectionError(errnum, message);
    case ETIMEDOUT: throw TimeoutError(errnum, message);
    default: throw OSError(errnum, message);
  }
}

ExceptionGroup::ExceptionGroup(std::string message, std::vector<std::exception_ptr> exceptions)
    : Error(message + " (" + std::to_string(exceptions.size()) + " sub-exception" +
            (exceptions.size() == 1 ? "" : "s") + ")"),
      exceptions_(std::move(exceptions)) {}

namespace asyncio {
IncompleteReadError::IncompleteReadError(std::string partial, long long expected)
    : EOFError(std::to_string(partial.size()) + " bytes read on a total of " +
               (expected < 0 ? std::string("undefined") : std::to_string(expected)) +
               " expected bytes"),
      partial_(std::move(partial)),
      expected_(expected) {}
}  // namespace asyncio

namespace {
std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                             std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}
}  // namespace

std::string exception_type_name(const std::exception_ptr& error) {
  if (!error) return "NoneType";
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return e.type_name();
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return type ? demangle(type->name()) : std::string("unknown");
  }
}

std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return "NoneType";
  std::string name = exception_type_name(error);
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return name + ": " + e.what();
  } catch (...) {
    return name;
  }
}

}  // namespace pyconc
