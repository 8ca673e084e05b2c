// Start methods and contexts: set_start_method, get_start_method, get_context,
// get_all_start_methods; a process started through each context really uses that method.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/detail/reduction.hpp"
#include "pyconc/multiprocessing/process.hpp"

namespace mp = pyconc::multiprocessing;

namespace {

// A handle owning an fd that travels with the Process arguments under every method
// (what Connection does): save() exports the fd, load() imports the child's copy.
struct FdHolder {
  int fd = -1;
  template <class Archive>
  void save(Archive& ar) const {
    ar(mp::detail::export_fd(fd));
  }
  template <class Archive>
  void load(Archive& ar) {
    std::uint32_t index = 0;
    ar(index);
    fd = mp::detail::import_fd(index);
  }
};

void write_to(FdHolder h, std::string text) {
  (void)!::write(h.fd, text.data(), text.size());
  ::close(h.fd);
}

// In the child: whether this is a fresh program (spawn: exec'd) or a fork of this one.
void report_method(int write_fd_number, std::string path) {
  (void)write_fd_number;
  std::ofstream out(path);
  out << mp::get_start_method() << "|" << (mp::parent_process() ? "child" : "main");
}

class ContextTest : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(Context, AllStartMethods) {
  auto all = mp::get_all_start_methods();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0], "fork");
  EXPECT_EQ(all[1], "spawn");
  EXPECT_EQ(all[2], "forkserver");
}

TEST(Context, UnknownMethodIsAValueError) {
  EXPECT_THROW(mp::get_context("threads"), pyconc::ValueError);
  EXPECT_THROW(mp::set_start_method(std::string("nope"), true), pyconc::ValueError);
}

TEST(Context, SetStartMethodOnceUnlessForced) {
  // Python: set_start_method raises RuntimeError once the method is fixed.
  mp::set_start_method(std::nullopt, true);
  EXPECT_EQ(mp::get_start_method(true), std::nullopt);
  mp::set_start_method(std::string("spawn"));
  EXPECT_EQ(mp::get_start_method(), "spawn");
  EXPECT_EQ(mp::get_context().start_method(), "spawn");
  EXPECT_THROW(mp::set_start_method(std::string("fork")), pyconc::RuntimeError);
  mp::set_start_method(std::string("fork"), true);
  EXPECT_EQ(mp::get_start_method(), "fork");
  mp::set_start_method(std::nullopt, true);
  EXPECT_EQ(mp::get_start_method(true), std::nullopt);
  EXPECT_EQ(mp::get_start_method(), "fork");  // the default, and now fixed
  EXPECT_EQ(mp::get_start_method(true), "fork");
  EXPECT_THROW(mp::set_start_method(std::string("spawn")), pyconc::RuntimeError);
  mp::set_start_method(std::nullopt, true);
}

TEST_P(ContextTest, ContextKeepsItsMethod) {
  auto ctx = mp::get_context(GetParam());
  EXPECT_EQ(ctx.start_method(), GetParam());
  EXPECT_EQ(ctx.get_start_method(), GetParam());
  EXPECT_TRUE(ctx == mp::get_context(GetParam()));
}

TEST_P(ContextTest, DefaultMethodIsUsedByPlainProcesses) {
  mp::set_start_method(GetParam(), true);
  std::string path = "/tmp/pyconc-test-context-" + std::to_string(getpid());
  mp::Process p(report_method, 0, path);
  p.start();
  p.join();
  mp::set_start_method(std::nullopt, true);
  EXPECT_EQ(p.exitcode(), 0);
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::remove(path.c_str());
  // The child inherits the default method, as Python's spawn children do.
  EXPECT_EQ(s.str(), GetParam() + "|child");
}

TEST_P(ContextTest, FileDescriptorsTravelWithTheArguments) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  auto p = mp::get_context(GetParam()).Process(write_to, FdHolder{fds[1]}, std::string("through the pipe"));
  p.start();
  ::close(fds[1]);  // the child has its own copy now
  std::string got;
  char buf[64];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(got, "through the pipe");
}

INSTANTIATE_TEST_SUITE_P(Methods, ContextTest, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);
