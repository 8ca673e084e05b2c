// Built against an installed pyconc with `pkg-config --cflags --libs pyconc` alone: proves
// pyconc.pc names the headers, the C++ standard and every library in link order. Uses
// one thing of each module: a ThreadPoolExecutor (futures) fills a queue::Queue (queue,
// threading), pickle round-trips the result, and a child Process (multiprocessing) sends
// the squares back through a multiprocessing::Queue.
#include <pyconc/futures.hpp>
#include <pyconc/multiprocessing.hpp>
#include <pyconc/pickle.hpp>
#include <pyconc/queue.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace futures = pyconc::futures;
namespace multiprocessing = pyconc::multiprocessing;
namespace pickle = pyconc::pickle;
namespace queue = pyconc::queue;

void squares(int n, multiprocessing::Queue<int> q) {
  for (int i = 1; i <= n; ++i) q.put(i * i);
}

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);

  queue::Queue<int> q;
  {
    futures::ThreadPoolExecutor ex(2);
    std::vector<futures::Future<void>> done;
    for (int i = 1; i <= 4; ++i) done.push_back(ex.submit([&q, i] { q.put(i); }));
    for (auto& f : done) f.result();
  }
  int sum = 0;
  while (!q.empty()) sum += q.get();
  auto text = pickle::loads<std::string>(pickle::dumps(std::string("sum=") + std::to_string(sum)));

  multiprocessing::Queue<int> mq;
  multiprocessing::Process p(squares, 3, mq);
  p.start();
  int from_child = 0;
  for (int i = 0; i < 3; ++i) from_child += mq.get();
  p.join();

  std::printf("pkg-config consumer %s squares=%d\n", text.c_str(), from_child);
  return text == "sum=10" && from_child == 14 && p.exitcode() == 0 ? 0 : 1;
}
