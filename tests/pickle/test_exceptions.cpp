// pyconc::pickle's exception transport (docs/conventions.md, "Exceptions"): pyconc's
// exceptions, the standard ones and registered user types come back as themselves;
// anything else as RemoteError.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <thread>
#include <string>
#include <vector>

#include "pyconc/pickle.hpp"

namespace pickle = pyconc::pickle;

namespace app {
struct QuotaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct CodedError : std::exception {  // travels whole, through its serialize
  int code = 0;
  std::string text;
  CodedError() = default;
  CodedError(int c, std::string t) : code(c), text(std::move(t)) {}
  const char* what() const noexcept override { return text.c_str(); }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(code, text);
  }
};
struct Unwritable : std::exception {  // registered, but its serialize throws
  Unwritable() = default;
  const char* what() const noexcept override { return "unwritable"; }
  template <class Archive>
  void serialize(Archive&) {
    throw std::runtime_error("cannot");
  }
};
struct Unregistered : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct MyValueError : pyconc::ValueError {  // a pyconc subclass that did not register
  using pyconc::ValueError::ValueError;
};
}  // namespace app

PYCONC_REGISTER_EXCEPTION(app::QuotaError);
PYCONC_REGISTER_EXCEPTION(app::CodedError);
PYCONC_REGISTER_EXCEPTION(app::Unwritable);

namespace {

template <class E>
std::vector<std::byte> dump(const E& e) {
  return pickle::dump_exception(std::make_exception_ptr(e));
}

// Rethrows the round trip of `e` and checks it is caught as exactly `Expected`.
template <class Expected, class E, class Check>
void expect_round_trip(const E& e, Check check) {
  auto bytes = dump(e);
  try {
    pickle::raise_exception(bytes);
  } catch (const Expected& got) {
    EXPECT_EQ(typeid(got), typeid(Expected)) << typeid(got).name();
    check(got);
    return;
  } catch (...) {
    ADD_FAILURE() << "wrong type: " << pyconc::describe_exception(std::current_exception());
    return;
  }
  ADD_FAILURE() << "nothing thrown";
}

template <class E>
void expect_same(const E& e) {
  expect_round_trip<E>(e, [&](const E& got) { EXPECT_STREQ(got.what(), e.what()); });
}

}  // namespace

TEST(PickleExceptions, PyconcErrors) {
  expect_same(pyconc::Error("base"));
  expect_same(pyconc::RuntimeError("r"));
  expect_same(pyconc::NotImplementedError("n"));
  expect_same(pyconc::BrokenBarrierError("b"));
  expect_same(pyconc::ValueError("bad value"));
  expect_same(pyconc::OverflowError("o"));
  expect_same(pyconc::EOFError("eof"));
  expect_same(pyconc::CancelledError("c"));
  expect_same(pyconc::InvalidStateError("i"));
  expect_same(pyconc::queue::Empty("e"));
  expect_same(pyconc::queue::Full("f"));
  expect_same(pyconc::queue::ShutDown("s"));
  expect_same(pyconc::futures::BrokenExecutor("be"));
  expect_same(pyconc::futures::BrokenThreadPool("btp"));
  expect_same(pyconc::futures::BrokenProcessPool("bpp"));
  expect_same(pyconc::multiprocessing::ProcessError("pe"));
  expect_same(pyconc::multiprocessing::AuthenticationError("ae"));
  expect_same(pyconc::multiprocessing::TimeoutError("te"));
  expect_same(pyconc::multiprocessing::OwnerDiedError("od"));
  expect_same(pyconc::asyncio::LimitOverrunError("lo"));
}

TEST(PickleExceptions, OSErrorsKeepTheirErrno) {
  auto check_errno = [](int expected) {
    return [expected](const pyconc::OSError& got) { EXPECT_EQ(got.errnum(), expected); };
  };
  expect_round_trip<pyconc::OSError>(pyconc::OSError(EACCES, "denied"), check_errno(EACCES));
  expect_round_trip<pyconc::TimeoutError>(pyconc::TimeoutError("slow"), check_errno(ETIMEDOUT));
  expect_round_trip<pyconc::FileExistsError>(pyconc::FileExistsError(EEXIST, "x"), check_errno(EEXIST));
  expect_round_trip<pyconc::FileNotFoundError>(pyconc::FileNotFoundError("nf"), check_errno(ENOENT));
  expect_round_trip<pyconc::ConnectionError>(pyconc::ConnectionError(ECONNREFUSED, "cr"), check_errno(ECONNREFUSED));
  expect_round_trip<pyconc::BrokenPipeError>(pyconc::BrokenPipeError("bp"), check_errno(EPIPE));
  try {
    pyconc::raise_os_error(ENOSPC, "write");
  } catch (...) {
    auto bytes = pickle::dump_exception(std::current_exception());
    try {
      pickle::raise_exception(bytes);
    } catch (const pyconc::OSError& e) {
      EXPECT_EQ(e.errnum(), ENOSPC);
      EXPECT_NE(std::string(e.what()).find("write"), std::string::npos);
    }
  }
}

TEST(PickleExceptions, GroupsRemoteAndIncompleteRead) {
  pyconc::ExceptionGroup group("several", {std::make_exception_ptr(pyconc::ValueError("v")),
                                           std::make_exception_ptr(std::out_of_range("o"))});
  expect_round_trip<pyconc::ExceptionGroup>(group, [&](const pyconc::ExceptionGroup& got) {
    EXPECT_STREQ(got.what(), group.what());
    ASSERT_EQ(got.exceptions().size(), 2u);
    EXPECT_THROW(std::rethrow_exception(got.exceptions()[0]), pyconc::ValueError);
    EXPECT_THROW(std::rethrow_exception(got.exceptions()[1]), std::out_of_range);
  });
  pyconc::RemoteError remote("np.LinAlgError", "singular");
  expect_round_trip<pyconc::RemoteError>(remote, [&](const pyconc::RemoteError& got) {
    EXPECT_EQ(got.remote_type(), "np.LinAlgError");
    EXPECT_STREQ(got.what(), remote.what());
  });
  pyconc::asyncio::IncompleteReadError partial("abc", 10);
  expect_round_trip<pyconc::asyncio::IncompleteReadError>(partial, [&](const auto& got) {
    EXPECT_EQ(got.partial(), "abc");
    EXPECT_EQ(got.expected(), 10);
    EXPECT_STREQ(got.what(), partial.what());
  });
}

TEST(PickleExceptions, StandardExceptions) {
  expect_same(std::runtime_error("rt"));
  expect_same(std::logic_error("le"));
  expect_same(std::invalid_argument("ia"));
  expect_same(std::out_of_range("oor"));
  expect_same(std::length_error("len"));
  expect_same(std::domain_error("dom"));
  expect_same(std::range_error("range"));
  expect_same(std::overflow_error("over"));
  expect_same(std::underflow_error("under"));
  expect_round_trip<std::bad_alloc>(std::bad_alloc(), [](const std::bad_alloc&) {});
  expect_round_trip<std::exception>(std::exception(), [](const std::exception&) {});
}

TEST(PickleExceptions, RegisteredUserTypes) {
  expect_same(app::QuotaError("over quota"));
  expect_round_trip<app::CodedError>(app::CodedError(42, "coded"), [](const app::CodedError& got) {
    EXPECT_EQ(got.code, 42);
    EXPECT_STREQ(got.what(), "coded");
  });
}

TEST(PickleExceptions, AnythingElseIsRemoteError) {
  expect_round_trip<pyconc::RemoteError>(app::Unregistered("who"), [](const pyconc::RemoteError& got) {
    EXPECT_EQ(got.remote_type(), "app::Unregistered");
    EXPECT_STREQ(got.what(), "app::Unregistered: who");
  });
  expect_round_trip<pyconc::RemoteError>(std::bad_cast(), [](const pyconc::RemoteError& got) {
    EXPECT_EQ(got.remote_type(), "std::bad_cast");
  });
  expect_round_trip<pyconc::RemoteError>(42, [](const pyconc::RemoteError& got) {
    EXPECT_EQ(got.remote_type(), "int");
  });
  // A registered type whose serialize fails: it still travels, as a RemoteError.
  expect_round_trip<pyconc::RemoteError>(app::Unwritable(), [](const pyconc::RemoteError& got) {
    EXPECT_EQ(got.remote_type(), "app::Unwritable");
    EXPECT_STREQ(got.what(), "app::Unwritable: unwritable");
  });
  // A pyconc subclass that did not register comes back as the pyconc type it reports.
  expect_round_trip<pyconc::ValueError>(app::MyValueError("mine"), [](const pyconc::ValueError& got) {
    EXPECT_STREQ(got.what(), "mine");
  });
}

TEST(PickleExceptions, LoadExceptionReturnsThePointer) {
  auto ptr = pickle::load_exception(dump(pyconc::EOFError("gone")));
  ASSERT_TRUE(ptr);
  EXPECT_THROW(std::rethrow_exception(ptr), pyconc::EOFError);
}

TEST(PickleExceptions, BadInputIsValueError) {
  EXPECT_THROW(pickle::dump_exception(nullptr), pyconc::ValueError);
  EXPECT_THROW(pickle::raise_exception({}), pyconc::ValueError);
  auto bytes = dump(pyconc::OSError(EIO, "io"));
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(pickle::raise_exception(std::span(bytes).first(n)), pyconc::ValueError) << n;
  // An unknown name from another program: RemoteError with that name.
  auto foreign = pickle::dumps(std::tuple<std::string, std::string, std::vector<std::byte>>("other.Error", "m", {}));
  try {
    pickle::raise_exception(foreign);
  } catch (const pyconc::RemoteError& e) {
    EXPECT_EQ(e.remote_type(), "other.Error");
  }
  // A known name with a payload that does not parse.
  auto bad = pickle::dumps(std::tuple<std::string, std::string, std::vector<std::byte>>("OSError", "m", {std::byte{1}}));
  EXPECT_THROW(pickle::raise_exception(bad), pyconc::ValueError);
}

TEST(PickleExceptions, NestedGroupsAreBounded) {
  std::exception_ptr inner = std::make_exception_ptr(pyconc::ValueError("leaf"));
  for (int i = 0; i < 150; ++i) inner = std::make_exception_ptr(pyconc::ExceptionGroup("g", {inner}));
  auto bytes = pickle::dump_exception(inner);
  EXPECT_THROW(pickle::raise_exception(bytes), pyconc::ValueError);
}

TEST(PickleExceptions, RegistrationConflicts) {
  EXPECT_TRUE(pickle::register_exception<app::QuotaError>("app::QuotaError"));  // again: no-op
  EXPECT_THROW(pickle::register_exception<app::Unregistered>("app::QuotaError"), pyconc::ValueError);
  EXPECT_THROW(pickle::register_exception<app::QuotaError>("another name"), pyconc::ValueError);
}

namespace app {
struct LateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace app

TEST(PickleExceptions, ManyThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &good] {
      if (t == 0) pickle::register_exception<app::LateError>("app::LateError");
      for (int i = 0; i < 500; ++i) {
        auto bytes = pickle::dump_exception(std::make_exception_ptr(pyconc::OSError(i, "x" + std::to_string(i))));
        try {
          pickle::raise_exception(bytes);
        } catch (const pyconc::OSError& e) {
          if (e.errnum() == i) good.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 2000);
  EXPECT_THROW(pickle::raise_exception(dump(app::LateError("late"))), app::LateError);
}
