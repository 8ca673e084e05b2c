// The objects a SyncManager's server holds for dict(), list(), Namespace() and Value(),
// with the operations their proxies call (static functions: each is an invoke_op
// instantiation the server runs). Errors are Python's: KeyError, IndexError,
// ValueError, AttributeError, with Python's messages.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <initializer_list>
#include <typeinfo>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pyconc/errors.hpp"
#include "pyconc/pickle.hpp"

namespace pyconc::multiprocessing::managers::detail {

/// A short rendering of a key or value for an error message (Python's repr where it
/// is easy: strings quoted, numbers as numbers).
// Concatenation by append: g++ 12 at -O3 reports a false -Wrestrict error on
// `"literal" + std::string`.
inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out.append(p);
  return out;
}

template <class T>
std::string show(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "True" : "False";
  } else if constexpr (std::is_arithmetic_v<T>) {
    return std::to_string(v);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return cat({"'", std::string_view(v), "'"});
  } else {
    return cat({"<", typeid(T).name(), ">"});
  }
}

/// dict(): insertion-ordered; keys are found by their pickled bytes (equal values of
/// the key type pickle to equal bytes), so any picklable K works, hashable or not.
template <class K, class V>
struct ManagedDict {
  using Item = std::pair<K, V>;
  std::list<Item> items;
  std::unordered_map<std::string, typename std::list<Item>::iterator> index;

  ManagedDict() = default;
  explicit ManagedDict(std::vector<Item> initial) {
    for (auto& [k, v] : initial) setitem(*this, std::move(k), std::move(v));
  }

  static std::string key_of(const K& k) {
    auto b = pyconc::pickle::dumps(k);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  typename std::list<Item>::iterator find(const K& k) {
    auto it = index.find(key_of(k));
    return it == index.end() ? items.end() : it->second;
  }

  static V getitem(ManagedDict& d, const K& k) {
    auto it = d.find(k);
    if (it == d.items.end()) throw KeyError(show(k));
    return it->second;
  }
  static void setitem(ManagedDict& d, K k, V v) {
    std::string key = key_of(k);
    auto it = d.index.find(key);
    if (it != d.index.end()) {
      it->second->second = std::move(v);
      return;
    }
    d.items.emplace_back(std::move(k), std::move(v));
    d.index.emplace(std::move(key), std::prev(d.items.end()));
  }
  static void delitem(ManagedDict& d, const K& k) {
    auto it = d.index.find(key_of(k));
    if (it == d.index.end()) throw KeyError(show(k));
    d.items.erase(it->second);
    d.index.erase(it);
  }
  static bool contains(ManagedDict& d, const K& k) { return d.index.count(key_of(k)) != 0; }
  static std::size_t len(ManagedDict& d) { return d.items.size(); }
  static std::optional<V> get(ManagedDict& d, const K& k) {
    auto it = d.find(k);
    if (it == d.items.end()) return std::nullopt;
    return it->second;
  }
  static V get_or(ManagedDict& d, const K& k, V fallback) {
    auto it = d.find(k);
    return it == d.items.end() ? fallback : it->second;
  }
  static V pop(ManagedDict& d, const K& k) {
    auto it = d.index.find(key_of(k));
    if (it == d.index.end()) throw KeyError(show(k));
    V v = std::move(it->second->second);
    d.items.erase(it->second);
    d.index.erase(it);
    return v;
  }
  static V pop_or(ManagedDict& d, const K& k, V fallback) {
    auto it = d.index.find(key_of(k));
    if (it == d.index.end()) return fallback;
    V v = std::move(it->second->second);
    d.items.erase(it->second);
    d.index.erase(it);
    return v;
  }
  static Item popitem(ManagedDict& d) {  // the last inserted, as Python's
    if (d.items.empty()) throw KeyError("'popitem(): dictionary is empty'");
    Item last = std::move(d.items.back());
    d.index.erase(key_of(last.first));
    d.items.pop_back();
    return last;
  }
  static V setdefault(ManagedDict& d, K k, V fallback) {
    auto it = d.find(k);
    if (it != d.items.end()) return it->second;
    setitem(d, std::move(k), fallback);
    return fallback;
  }
  static void update(ManagedDict& d, std::vector<Item> more) {
    for (auto& [k, v] : more) setitem(d, std::move(k), std::move(v));
  }
  static void clear(ManagedDict& d) {
    d.items.clear();
    d.index.clear();
  }
  static std::vector<K> keys(ManagedDict& d) {
    std::vector<K> out;
    out.reserve(d.items.size());
    for (auto& it : d.items) out.push_back(it.first);
    return out;
  }
  static std::vector<V> values(ManagedDict& d) {
    std::vector<V> out;
    out.reserve(d.items.size());
    for (auto& it : d.items) out.push_back(it.second);
    return out;
  }
  static std::vector<Item> all_items(ManagedDict& d) { return {d.items.begin(), d.items.end()}; }
};

/// list() and Array(): a vector with Python's list semantics (negative indices, the
/// errors and messages of list's methods).
template <class T>
struct ManagedList {
  std::vector<T> items;
  bool fixed = false;  // Array(): no change of length

  ManagedList() = default;
  explicit ManagedList(std::vector<T> initial, bool fixed_size = false) : items(std::move(initial)), fixed(fixed_size) {}

  static std::size_t at(ManagedList& l, long long i, const char* what) {
    long long n = static_cast<long long>(l.items.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) throw IndexError(what);
    return static_cast<std::size_t>(i);
  }
  void check_resizable(const char* method) const {
    if (fixed) throw ValueError(cat({"an Array's length is fixed (", method, ")"}));
  }
  static T getitem(ManagedList& l, long long i) { return l.items[at(l, i, "list index out of range")]; }
  static void setitem(ManagedList& l, long long i, T v) {
    l.items[at(l, i, "list assignment index out of range")] = std::move(v);
  }
  static void delitem(ManagedList& l, long long i) {
    l.check_resizable("delitem");
    l.items.erase(l.items.begin() + static_cast<std::ptrdiff_t>(at(l, i, "list assignment index out of range")));
  }
  static std::size_t len(ManagedList& l) { return l.items.size(); }
  static std::vector<T> slice(ManagedList& l, long long start, long long stop) {
    long long n = static_cast<long long>(l.items.size());
    auto clamp = [n](long long i) { return std::clamp(i < 0 ? i + n : i, 0LL, n); };
    long long a = clamp(start), b = clamp(stop);
    if (b <= a) return {};
    return {l.items.begin() + a, l.items.begin() + b};
  }
  static std::vector<T> copy(ManagedList& l) { return l.items; }
  static void append(ManagedList& l, T v) {
    l.check_resizable("append");
    l.items.push_back(std::move(v));
  }
  static void extend(ManagedList& l, std::vector<T> more) {
    l.check_resizable("extend");
    for (auto& v : more) l.items.push_back(std::move(v));
  }
  static void insert(ManagedList& l, long long i, T v) {
    l.check_resizable("insert");
    long long n = static_cast<long long>(l.items.size());
    if (i < 0) i = std::max(0LL, i + n);
    i = std::min(i, n);
    l.items.insert(l.items.begin() + i, std::move(v));
  }
  static T pop(ManagedList& l, long long i) {
    l.check_resizable("pop");
    if (l.items.empty()) throw IndexError("pop from empty list");
    std::size_t k = at(l, i, "pop index out of range");
    T v = std::move(l.items[k]);
    l.items.erase(l.items.begin() + static_cast<std::ptrdiff_t>(k));
    return v;
  }
  static bool contains(ManagedList& l, const T& v) {
    return std::find(l.items.begin(), l.items.end(), v) != l.items.end();
  }
  static std::size_t count(ManagedList& l, const T& v) {
    return static_cast<std::size_t>(std::count(l.items.begin(), l.items.end(), v));
  }
  static std::size_t index(ManagedList& l, const T& v) {
    auto it = std::find(l.items.begin(), l.items.end(), v);
    if (it == l.items.end()) throw ValueError(cat({show(v), " is not in list"}));
    return static_cast<std::size_t>(it - l.items.begin());
  }
  static void remove(ManagedList& l, const T& v) {
    l.check_resizable("remove");
    auto it = std::find(l.items.begin(), l.items.end(), v);
    if (it == l.items.end()) throw ValueError("list.remove(x): x not in list");
    l.items.erase(it);
  }
  static void reverse(ManagedList& l) { std::reverse(l.items.begin(), l.items.end()); }
  static void sort(ManagedList& l, bool descending) {
    if (descending)
      std::stable_sort(l.items.begin(), l.items.end(), [](const T& a, const T& b) { return b < a; });
    else
      std::stable_sort(l.items.begin(), l.items.end(), [](const T& a, const T& b) { return a < b; });
  }
  static void clear(ManagedList& l) {
    l.check_resizable("clear");
    l.items.clear();
  }
};

/// Namespace(): named attributes of any picklable type (kept pickled, in order).
struct ManagedNamespace {
  std::vector<std::pair<std::string, std::vector<std::byte>>> attrs;

  std::vector<std::byte>* find(const std::string& name) {
    for (auto& [n, v] : attrs)
      if (n == name) return &v;
    return nullptr;
  }
  static void setattr(ManagedNamespace& ns, std::string name, std::vector<std::byte> value) {
    if (auto* v = ns.find(name))
      *v = std::move(value);
    else
      ns.attrs.emplace_back(std::move(name), std::move(value));
  }
  static std::vector<std::byte> getattr(ManagedNamespace& ns, const std::string& name) {
    if (auto* v = ns.find(name)) return *v;
    throw AttributeError(cat({"'Namespace' object has no attribute '", name, "'"}));
  }
  static bool hasattr(ManagedNamespace& ns, const std::string& name) { return ns.find(name) != nullptr; }
  static void delattr(ManagedNamespace& ns, const std::string& name) {
    for (auto it = ns.attrs.begin(); it != ns.attrs.end(); ++it)
      if (it->first == name) {
        ns.attrs.erase(it);
        return;
      }
    throw AttributeError(cat({"'Namespace' object has no attribute '", name, "'"}));
  }
  static std::vector<std::string> names(ManagedNamespace& ns) {
    std::vector<std::string> out;
    for (auto& a : ns.attrs) out.push_back(a.first);
    return out;
  }
};

/// Value(): one value.
template <class T>
struct ManagedValue {
  T value{};
  ManagedValue() = default;
  explicit ManagedValue(T v) : value(std::move(v)) {}
  static T get(ManagedValue& v) { return v.value; }
  static void set(ManagedValue& v, T x) { v.value = std::move(x); }
};

}  // namespace pyconc::multiprocessing::managers::detail
