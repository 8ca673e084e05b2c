// Process.authkey under every start method: the main process's key, the copy a new
// Process takes, what the child's current_process() holds, and what a grandchild inherits.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/connection.hpp"
#include "pyconc/multiprocessing/context.hpp"
#include "pyconc/multiprocessing/process.hpp"

namespace mp = pyconc::multiprocessing;
using mp::Connection;
using Key = std::vector<std::byte>;

namespace {

Key make_key(std::size_t size, unsigned char first) {
  Key key(size);
  for (std::size_t i = 0; i < size; ++i) key[i] = static_cast<std::byte>(first + i);
  return key;
}

// ---- targets ----------------------------------------------------------------------------

void send_own_key(Connection conn) { conn.send(mp::current_process().authkey()); }

// The child: what a new Process of its own copies, then what its child sees.
void send_keys_of_grandchild(Connection conn, std::string method) {
  auto p = mp::get_context(method).Process(send_own_key, conn);
  conn.send(p.authkey());
  p.start();
  p.join();
  mp::current_process().set_authkey(make_key(4, 200));  // does not reach the started grandchild
}

// A subclass whose run() checks its own authkey() (in the child: current_process()'s).
struct KeyChecker : mp::Process {
  void run() override {
    if (authkey() != make_key(12, 33) || mp::current_process().authkey() != make_key(12, 33))
      throw std::runtime_error("wrong authkey in the child");
  }
};

class AuthkeyTest : public ::testing::TestWithParam<std::string> {
 protected:
  mp::Context ctx() const { return mp::get_context(GetParam()); }
};

}  // namespace

PYCONC_REGISTER_PROCESS(KeyChecker);

// ---- in this process --------------------------------------------------------------------

TEST(Authkey, MainProcessHas32StableRandomBytes) {
  Key key = mp::current_process().authkey();
  ASSERT_EQ(key.size(), 32u);
  EXPECT_EQ(mp::current_process().authkey(), key);
  EXPECT_NE(key, Key(32)) << "32 zero bytes are not random";
}

TEST(Authkey, NewProcessCopiesTheCurrentKey) {
  Key main_key = mp::current_process().authkey();
  mp::Process p;
  EXPECT_EQ(p.authkey(), main_key);
  p.set_authkey(make_key(8, 1));
  EXPECT_EQ(p.authkey(), make_key(8, 1));
  EXPECT_EQ(mp::current_process().authkey(), main_key) << "a copy, not the main process's key";
}

TEST(Authkey, ProcessMadeAfterTheCurrentKeyChangedCopiesTheNewKey) {
  Key main_key = mp::current_process().authkey();
  mp::Process before;
  mp::current_process().set_authkey(make_key(16, 50));
  mp::Process after;
  mp::current_process().set_authkey(main_key);
  EXPECT_EQ(before.authkey(), main_key);
  EXPECT_EQ(after.authkey(), make_key(16, 50));
}

TEST(Authkey, EmptyKeyAndKeyAfterClose) {
  mp::Process p;
  p.set_authkey({});
  EXPECT_TRUE(p.authkey().empty());
  p.set_authkey(make_key(3, 9));
  p.close();
  EXPECT_EQ(p.authkey(), make_key(3, 9));  // Python reads _config without _check_closed
}

// ---- in the child -----------------------------------------------------------------------

TEST_P(AuthkeyTest, ChildHoldsTheKeyOfItsProcess) {
  Connection parent, child;
  std::tie(parent, child) = mp::Pipe();
  auto p = ctx().Process(send_own_key, child);
  p.start();
  child.close();
  EXPECT_EQ(parent.recv<Key>(), mp::current_process().authkey());
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
}

TEST_P(AuthkeyTest, SetAuthkeyBeforeStartIsWhatTheChildSees) {
  Connection parent, child;
  std::tie(parent, child) = mp::Pipe();
  auto p = ctx().Process(send_own_key, child);
  p.set_authkey(make_key(20, 7));
  p.start();
  p.set_authkey(make_key(5, 90));  // after start: changes only the object
  child.close();
  EXPECT_EQ(parent.recv<Key>(), make_key(20, 7));
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(p.authkey(), make_key(5, 90));
}

TEST_P(AuthkeyTest, GrandchildInheritsTheKey) {
  Connection parent, child;
  std::tie(parent, child) = mp::Pipe();
  auto p = ctx().Process(send_keys_of_grandchild, child, GetParam());
  p.set_authkey(make_key(32, 100));
  p.start();
  child.close();
  EXPECT_EQ(parent.recv<Key>(), make_key(32, 100)) << "the child's new Process copies the child's key";
  EXPECT_EQ(parent.recv<Key>(), make_key(32, 100)) << "the grandchild's current_process()";
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(mp::current_process().authkey().size(), 32u);
}

TEST_P(AuthkeyTest, SubclassSeesItsKeyInRun) {
  KeyChecker k;
  ctx().bind(k);
  k.set_authkey(make_key(12, 33));
  k.start();
  k.join();
  EXPECT_EQ(k.exitcode(), 0);
}

INSTANTIATE_TEST_SUITE_P(Methods, AuthkeyTest, ::testing::ValuesIn(pyconc_test::start_methods()),
                         pyconc_test::method_name);
