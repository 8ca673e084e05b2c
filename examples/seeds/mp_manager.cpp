// mp_manager — Python's Manager example: a child process fills a shared dict and
// reverses a shared list held by a manager process; the parent prints both. Shows:
// Manager(), dict/list proxies passed to a Process, item assignment through a proxy.
// Exits with 1 unless the parent sees what the child did.
//
// The Python original (the multiprocessing docs, "Server process"):
//
//     from multiprocessing import Process, Manager
//
//     def f(d, l):
//         d[1] = '1'
//         d['2'] = 2
//         d[0.25] = None
//         l.reverse()
//
//     if __name__ == '__main__':
//         with Manager() as manager:
//             d = manager.dict()
//             l = manager.list(range(10))
//             p = Process(target=f, args=(d, l))
//             p.start()
//             p.join()
//             print(d)
//             print(l)
//
// C++ proxies are typed: this dict maps std::string to std::string (Python's mixes key
// and value types freely).
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <pyconc/multiprocessing/managers.hpp>
#include <pyconc/multiprocessing/process.hpp>

namespace multiprocessing = pyconc::multiprocessing;
using multiprocessing::managers::DictProxy;
using multiprocessing::managers::ListProxy;

void f(DictProxy<std::string, std::string> d, ListProxy<int> l) {
  d["1"] = "1";
  d["2"] = "2";
  d["0.25"] = "None";
  l.reverse();
}

int main(int argc, char** argv) {
  multiprocessing::freeze_support(argc, argv);  // if __name__ == '__main__':
  auto manager = multiprocessing::Manager();     // with Manager() as manager:
  auto d = manager.dict<std::string, std::string>();
  std::vector<int> range10(10);
  std::iota(range10.begin(), range10.end(), 0);
  auto l = manager.list<int>(range10);
  multiprocessing::Process p(f, d, l);
  p.start();
  p.join();

  std::string shown = "{";
  for (auto& [k, v] : d.items()) shown += (shown.size() > 1 ? ", '" : "'") + k + "': '" + v + "'";
  std::printf("%s}\n", shown.c_str());
  auto items = l.copy();
  std::string list = "[";
  for (int x : items) list += (list.size() > 1 ? ", " : "") + std::to_string(x);
  std::printf("%s]\n", list.c_str());

  std::vector<int> reversed(range10.rbegin(), range10.rend());
  return d.len() == 3 && items == reversed ? 0 : 1;
}
