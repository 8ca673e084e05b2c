// A Connection pickled for another process: its segment name and its fds.
#include <fcntl.h>

#include <cstddef>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "mp_support.hpp"
#include "pyconc/multiprocessing/connection.hpp"
#include "pyconc/multiprocessing/detail/reduction.hpp"

namespace mp = pyconc::multiprocessing;
using mp::Connection;
using mp::Pipe;

TEST(Reduction, TravelsOnlyAsProcessArgument) {
  Connection a, b;
  std::tie(a, b) = Pipe();
  EXPECT_THROW(pyconc::pickle::dumps(b), pyconc::ValueError);
  std::vector<std::byte> data;
  std::vector<int> fds;
  {
    pyconc::multiprocessing::detail::FdExport scope;
    data = pyconc::pickle::dumps(b);
    for (int fd : scope.fds()) fds.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));  // the "child's" copies
  }
  Connection c;
  {
    pyconc::multiprocessing::detail::FdImport scope(fds);
    c = pyconc::pickle::loads<Connection>(data);
  }
  b.close();  // c is another holder of the same end
  a.send(11);
  EXPECT_EQ(c.recv<int>(), 11);
  c.send(12);
  EXPECT_EQ(a.recv<int>(), 12);
  c.close();
  EXPECT_THROW(a.recv<int>(), pyconc::EOFError);
}
