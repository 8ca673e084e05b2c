// multiprocessing.shared_memory: SharedMemory and ShareableList.
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/identity.hpp"
#include "pyconc/multiprocessing/process.hpp"
#include "pyconc/multiprocessing/shared_memory.hpp"
#include "pyconc/pickle.hpp"

namespace {

namespace shared_memory = pyconc::multiprocessing::shared_memory;
using shared_memory::ShareableList;
using shared_memory::SharedMemory;

bool exists(const std::string& name) { return pyconc_test::shm_exists(name); }

std::string fresh_user_name() {
  return "pyconc-" + std::to_string(pyconc::multiprocessing::detail::family_pid()) + "-user" +
         std::to_string(pyconc::multiprocessing::detail::random_u64() % 1000000);
}

// ----- SharedMemory -----------------------------------------------------------------

TEST(SharedMemory, CreateWriteAttachRead) {
  SharedMemory shm({.create = true, .size = 100});
  EXPECT_EQ(shm.size(), 100u);
  EXPECT_EQ(shm.buf().size(), 100u);
  EXPECT_NE(shm.name().front(), '/');
  // Default names are unguessable and of this family (so the leak check sees them).
  std::string prefix = "pyconc-" + std::to_string(pyconc::multiprocessing::detail::family_pid()) + "-";
  EXPECT_EQ(shm.name().rfind(prefix, 0), 0u) << shm.name();
  EXPECT_GE(shm.name().size(), prefix.size() + 16);
  for (std::byte b : shm.buf()) EXPECT_EQ(b, std::byte{0});
  shm.buf()[7] = std::byte{42};

  SharedMemory other({.name = shm.name()});
  EXPECT_EQ(other.size(), 100u);
  EXPECT_EQ(other.buf()[7], std::byte{42});
  other.buf()[8] = std::byte{43};
  EXPECT_EQ(shm.buf()[8], std::byte{43});
  other.close();
  shm.close();
  shm.unlink();
  EXPECT_FALSE(exists(shm.name()));
}

TEST(SharedMemory, Mode0600) {
  SharedMemory shm({.create = true, .size = 10});
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm/" + shm.name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  shm.unlink();
}

TEST(SharedMemory, NamesAreFresh) {
  SharedMemory a({.create = true, .size = 10});
  SharedMemory b({.create = true, .size = 10});
  EXPECT_NE(a.name(), b.name());
  a.unlink();
  b.unlink();
}

TEST(SharedMemory, ChosenName) {
  std::string name = fresh_user_name();
  SharedMemory shm({.name = name, .create = true, .size = 5000});
  EXPECT_EQ(shm.name(), name);
  EXPECT_TRUE(exists(name));
  EXPECT_THROW(SharedMemory({.name = name, .create = true, .size = 10}), pyconc::FileExistsError);
  try {
    SharedMemory({.name = name, .create = true, .size = 10});
  } catch (const pyconc::OSError& e) {
    EXPECT_EQ(e.errnum(), EEXIST);
  }
  // Attaching ignores the size given (the segment's own size counts), as in Python.
  SharedMemory other({.name = name, .size = 1});
  EXPECT_EQ(other.size(), 5000u);
  shm.unlink();
  EXPECT_FALSE(exists(name));
}

TEST(SharedMemory, Errors) {
  EXPECT_THROW(SharedMemory({.create = true, .size = 0}), pyconc::ValueError);
  EXPECT_THROW(SharedMemory({.create = true, .size = -1}), pyconc::ValueError);
  EXPECT_THROW(SharedMemory({.name = "x", .size = -1}), pyconc::ValueError);
  EXPECT_THROW(SharedMemory(shared_memory::SharedMemoryOptions{}), pyconc::ValueError);  // no name, no create
  EXPECT_THROW(SharedMemory({.name = "a/b", .create = true, .size = 8}), pyconc::ValueError);
  EXPECT_THROW(SharedMemory({.name = fresh_user_name()}), pyconc::FileNotFoundError);
  SharedMemory empty;
  EXPECT_FALSE(empty);
  EXPECT_THROW(empty.buf(), pyconc::ValueError);
  EXPECT_THROW(empty.unlink(), pyconc::ValueError);
  empty.close();  // harmless
}

TEST(SharedMemory, CloseThenBufRaisesAndUnlinkStillWorks) {
  SharedMemory shm({.create = true, .size = 64});
  SharedMemory copy = shm;  // another reference to the same object
  shm.close();
  shm.close();  // idempotent, as in Python
  EXPECT_THROW(shm.buf(), pyconc::ValueError);
  EXPECT_THROW(copy.buf(), pyconc::ValueError);
  EXPECT_EQ(shm.size(), 64u);
  EXPECT_TRUE(exists(shm.name()));  // closing never unlinks
  shm.unlink();
  EXPECT_FALSE(exists(shm.name()));
  EXPECT_THROW(shm.unlink(), pyconc::FileNotFoundError);
}

TEST(SharedMemory, DroppingNeverUnlinks) {
  std::string name;
  {
    SharedMemory shm({.create = true, .size = 64});
    name = shm.name();
  }
  EXPECT_TRUE(exists(name));
  SharedMemory again({.name = name});
  again.unlink();
}

TEST(SharedMemory, AFullDevShmIsOSErrorNotSigbus) {
  struct statvfs vfs {};
  ASSERT_EQ(::statvfs("/dev/shm", &vfs), 0);
  if (vfs.f_blocks == 0) GTEST_SKIP() << "/dev/shm has no size limit";
  auto total = static_cast<std::int64_t>(vfs.f_blocks) * static_cast<std::int64_t>(vfs.f_frsize);
  std::int64_t size = total + (std::int64_t{1} << 30);
  try {
    SharedMemory shm({.create = true, .size = size});
    ADD_FAILURE() << "created " << size << " bytes on a /dev/shm of " << total;
    shm.unlink();
  } catch (const pyconc::OSError& e) {
    EXPECT_EQ(e.errnum(), ENOSPC) << e.what();
  }
  EXPECT_TRUE(pyconc_test::family_segments().empty());  // nothing left behind
}

TEST(SharedMemory, ForkChildSeesAndWrites) {
  SharedMemory shm({.create = true, .size = 16});
  int status = pyconc_test::run_forked([shm]() mutable {
    shm.buf()[0] = std::byte{7};
    SharedMemory other({.name = shm.name()});
    other.buf()[1] = std::byte{8};
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(shm.buf()[0], std::byte{7});
  EXPECT_EQ(shm.buf()[1], std::byte{8});
  EXPECT_TRUE(exists(shm.name()));  // the child's exit unlinked nothing
  shm.unlink();
}

void fill(SharedMemory shm, int value) {
  for (auto& b : shm.buf()) b = static_cast<std::byte>(value);
}

TEST(SharedMemory, AsAProcessArgument) {
  SharedMemory shm({.create = true, .size = 256});
  pyconc::multiprocessing::Process p(fill, shm, 5);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  for (auto b : shm.buf()) ASSERT_EQ(b, std::byte{5});
  shm.unlink();
}

void fill_list(ShareableList<std::string> list) {
  for (std::size_t i = 0; i < list.size(); ++i) list[static_cast<std::ptrdiff_t>(i)] = "child";
}

TEST(ShareableList, AsAProcessArgument) {
  ShareableList<std::string> list{"a", "b"};
  pyconc::multiprocessing::Process p(fill_list, list);
  p.start();
  p.join();
  EXPECT_EQ(p.exitcode(), 0);
  EXPECT_EQ(list.get(0), "child");
  EXPECT_EQ(list.get(1), "child");
  list.shm().unlink();
}

TEST(SharedMemory, PicklesAsItsName) {
  SharedMemory shm({.create = true, .size = 32});
  shm.buf()[3] = std::byte{99};
  auto bytes = pyconc::pickle::dumps(shm);
  auto back = pyconc::pickle::loads<SharedMemory>(bytes);
  EXPECT_EQ(back.name(), shm.name());
  EXPECT_EQ(back.size(), 32u);
  EXPECT_EQ(back.buf()[3], std::byte{99});
  EXPECT_NE(back.buf().data(), shm.buf().data());  // its own mapping, as after attach
  shm.unlink();
  // Unpickling attaches: the name is gone now (FileNotFoundError, which pickle's first
  // cut reports as ValueError).
  EXPECT_THROW(pyconc::pickle::loads<SharedMemory>(bytes), pyconc::Error);
}

TEST(SharedMemory, MovableAndCopyable) {
  SharedMemory a({.create = true, .size = 8});
  std::string name = a.name();
  SharedMemory b = std::move(a);
  EXPECT_EQ(b.name(), name);
  std::vector<SharedMemory> v{b, b};
  EXPECT_EQ(v[1].buf().data(), b.buf().data());
  b.unlink();
}

// ----- ShareableList ----------------------------------------------------------------

TEST(ShareableList, NumbersCreateAttachReadWrite) {
  ShareableList<double> a{1.5, 2.5, 3.5, 2.5};
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0], 1.5);
  EXPECT_EQ(a[-1], 2.5);
  ShareableList<double> b({.name = a.shm().name()});
  EXPECT_EQ(b.size(), 4u);
  b[0] = 9.0;
  EXPECT_EQ(a.get(0), 9.0);
  a.set(1, -1.0);
  EXPECT_EQ(static_cast<double>(b[1]), -1.0);
  EXPECT_EQ(a.count(2.5), 1u);
  EXPECT_EQ(a.count(9.0), 1u);
  EXPECT_EQ(a.count(7.0), 0u);
  EXPECT_EQ(a.index(3.5), 2u);
  EXPECT_THROW(a.index(7.0), pyconc::ValueError);
  EXPECT_THROW(a.get(4), pyconc::IndexError);
  EXPECT_THROW(a.get(-5), pyconc::IndexError);
  EXPECT_THROW(a.set(4, 0.0), pyconc::IndexError);
  b.shm().close();
  a.shm().close();
  a.shm().unlink();
}

TEST(ShareableList, FromVectorWithName) {
  std::string name = fresh_user_name();
  std::vector<long> values(1000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<long>(i * i);
  ShareableList<long> a(values, {.name = name});
  EXPECT_EQ(a.shm().name(), name);
  EXPECT_EQ(a[999], 999L * 999);
  EXPECT_THROW(ShareableList<long>(values, {.name = name}), pyconc::FileExistsError);
  a.shm().unlink();
}

TEST(ShareableList, EmptyList) {
  ShareableList<int> a(std::vector<int>{});
  EXPECT_EQ(a.size(), 0u);
  EXPECT_THROW(a.get(0), pyconc::IndexError);
  ShareableList<std::string> b(std::vector<std::string>{});
  ShareableList<std::string> c({.name = b.shm().name()});
  EXPECT_EQ(c.size(), 0u);
  a.shm().unlink();
  b.shm().unlink();
}

TEST(ShareableList, StringsHavePythonsSlotCapacity) {
  ShareableList<std::string> a{"", "howdy", "abcdefgh", std::string("a\0b\0", 4)};
  ShareableList<std::string> one({"solo"});  // one string: still the list constructor
  EXPECT_EQ(one.size(), 1u);
  EXPECT_EQ(a[1], std::string("howdy"));
  EXPECT_EQ(a.get(3), std::string("a\0b\0", 4));  // every byte kept
  // "" gets 8 bytes, "howdy" 8, "abcdefgh" 16.
  a[0] = "12345678";
  EXPECT_EQ(a.get(0), "12345678");
  EXPECT_THROW(a.set(0, "123456789"), pyconc::ValueError);
  EXPECT_EQ(a.get(0), "12345678");  // unchanged
  a[2] = std::string(16, 'x');
  EXPECT_THROW(a.set(2, std::string(17, 'x')), pyconc::ValueError);
  a[1] = "hi";
  EXPECT_EQ(a.get(1), "hi");
  ShareableList<std::string> b({.name = a.shm().name()});
  EXPECT_EQ(b.get(2), std::string(16, 'x'));
  EXPECT_EQ(b.index("hi"), 1u);
  EXPECT_EQ(b.count("zz"), 0u);
  a.shm().unlink();
  one.shm().unlink();
}

TEST(ShareableList, MixedListsThroughVariant) {
  using Item = std::variant<long, double, bool, std::string>;
  ShareableList<Item> a{Item{3L}, Item{2.5}, Item{true}, Item{std::string("text")}};
  EXPECT_EQ(std::get<long>(a.get(0)), 3);
  EXPECT_EQ(std::get<double>(a.get(1)), 2.5);
  EXPECT_EQ(std::get<bool>(a.get(2)), true);
  EXPECT_EQ(std::get<std::string>(a.get(3)), "text");
  a[0] = Item{1.25};  // a number slot takes any number
  EXPECT_EQ(std::get<double>(a.get(0)), 1.25);
  a[3] = Item{7L};  // a string slot takes a number
  EXPECT_EQ(std::get<long>(a.get(3)), 7);
  a[3] = Item{std::string("abcdefgh")};
  EXPECT_THROW(a.set(3, Item{std::string("abcdefghi")}), pyconc::ValueError);
  EXPECT_EQ(a.index(Item{true}), 2u);
  ShareableList<Item> b({.name = a.shm().name()});
  EXPECT_EQ(std::get<std::string>(b.get(3)), "abcdefgh");
  a.shm().unlink();
}

TEST(ShareableList, PlainStructs) {
  struct Point {
    int x, y;
    bool operator==(const Point&) const = default;
  };
  ShareableList<Point> a{{1, 2}, {3, 4}};
  a[1] = Point{5, 6};
  EXPECT_EQ(a.get(1), (Point{5, 6}));
  EXPECT_EQ(a.index(Point{1, 2}), 0u);
  a.shm().unlink();
}

TEST(ShareableList, AttachChecksTheType) {
  ShareableList<int> a{1, 2, 3};
  EXPECT_THROW(ShareableList<double>({.name = a.shm().name()}), pyconc::ValueError);
  EXPECT_THROW(ShareableList<std::string>({.name = a.shm().name()}), pyconc::ValueError);
  SharedMemory raw({.create = true, .size = 64});
  EXPECT_THROW(ShareableList<int>({.name = raw.name()}), pyconc::ValueError);
  EXPECT_THROW(ShareableList<int>({.name = fresh_user_name()}), pyconc::FileNotFoundError);
  a.shm().unlink();
  raw.unlink();
}

TEST(ShareableList, AfterCloseAccessRaises) {
  ShareableList<int> a{1};
  a.shm().close();
  EXPECT_THROW(a.get(0), pyconc::ValueError);
  a.shm().unlink();
}

TEST(ShareableList, ForkChildWritesPicklesAsName) {
  ShareableList<int> a{0, 0, 0};
  auto bytes = pyconc::pickle::dumps(a);
  int status = pyconc_test::run_forked([&bytes] {
    auto b = pyconc::pickle::loads<ShareableList<int>>(bytes);
    for (int i = 0; i < 3; ++i) b[i] = 10 * (i + 1);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(a.get(0), 10);
  EXPECT_EQ(a.get(2), 30);
  a.shm().unlink();
}

}  // namespace
