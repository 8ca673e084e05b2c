// Code addresses that survive ASLR: a function's module file and its offset from the
// module's load address. A spawn child runs the same binary, so the same module is
// loaded (at another base) and the offset finds the same function.
#include <dlfcn.h>
#include <link.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "pyconc/errors.hpp"
#include "pyconc/multiprocessing/detail/process_target.hpp"

namespace pyconc::multiprocessing::detail {

namespace {

struct Lookup {
  const void* address = nullptr;      // in: an address
  const std::string* module = nullptr;  // in: a module name
  std::uintptr_t base = 0;            // out
  std::string name;                   // out
  bool found = false;
};

// The main program reports an empty name; call it "" everywhere.
int find_by_address(dl_phdr_info* info, std::size_t, void* data) {
  auto* q = static_cast<Lookup*>(data);
  auto addr = reinterpret_cast<std::uintptr_t>(q->address);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (addr >= start && addr < start + ph.p_memsz) {
      q->base = info->dlpi_addr;
      q->name = info->dlpi_name ? info->dlpi_name : "";
      q->found = true;
      return 1;
    }
  }
  return 0;
}

int find_by_name(dl_phdr_info* info, std::size_t, void* data) {
  auto* q = static_cast<Lookup*>(data);
  const char* name = info->dlpi_name ? info->dlpi_name : "";
  if (*q->module == name) {
    q->base = info->dlpi_addr;
    q->found = true;
    return 1;
  }
  return 0;
}

}  // namespace

CodeAddress code_address(const void* fn) {
  Lookup q;
  q.address = fn;
  dl_iterate_phdr(find_by_address, &q);
  if (!q.found) throw ProcessError("cannot send a function that lives in no loaded module to another process");
  return CodeAddress{q.name, reinterpret_cast<std::uintptr_t>(fn) - q.base};
}

void* resolve_code_address(const CodeAddress& where) {
  Lookup q;
  q.module = &where.module;
  dl_iterate_phdr(find_by_name, &q);
  if (!q.found) throw ProcessError("module '" + where.module + "' of the target is not loaded in the child");
  return reinterpret_cast<void*>(q.base + where.offset);
}

}  // namespace pyconc::multiprocessing::detail
