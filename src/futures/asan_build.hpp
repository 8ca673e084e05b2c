// PYCONC_ASAN_BUILD: defined when the library is compiled with AddressSanitizer (g++
// defines __SANITIZE_ADDRESS__, clang answers __has_feature). The memory pools then
// hand every request to operator new, so that ASan still checks each object's lifetime.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define PYCONC_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PYCONC_ASAN_BUILD 1
#endif
#endif
