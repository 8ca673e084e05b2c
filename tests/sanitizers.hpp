// Which sanitizer a test program is built with (g++ defines __SANITIZE_*__, clang
// answers __has_feature): PYCONC_TEST_TSAN under ThreadSanitizer, PYCONC_SANITIZED under
// ThreadSanitizer or AddressSanitizer (tests then move less data).
#pragma once

#if defined(__SANITIZE_THREAD__)
#define PYCONC_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PYCONC_TEST_TSAN 1
#endif
#endif

#if defined(PYCONC_TEST_TSAN) || defined(__SANITIZE_ADDRESS__)
#define PYCONC_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PYCONC_SANITIZED 1
#endif
#endif
