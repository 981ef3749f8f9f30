// Small helpers shared by the tests: checks that keep going and count
// failures, fixed-seed random data, comparisons and paths.
#ifndef SEGC_TESTS_TEST_UTIL_H
#define SEGC_TESTS_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

extern int test_failures;
extern int test_checks;

#define CHECK(cond, ...)                                          \
  do {                                                            \
    test_checks++;                                                \
    if (!(cond)) {                                                \
      test_failures++;                                            \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                               \
      fputc('\n', stderr);                                        \
    }                                                             \
  } while (0)

// Stops the test when a segc call fails (later checks would be noise).
#define CHECK_OK(expr)                                                   \
  do {                                                                   \
    test_checks++;                                                       \
    segc_status check_status_ = (expr);                                  \
    if (check_status_ != SEGC_OK) {                                      \
      fprintf(stderr, "FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #expr, \
              segc_error_message());                                     \
      return test_finish_failed();                                       \
    }                                                                    \
  } while (0)

// Expects a failure with the given status and a message containing `needle`.
#define CHECK_FAILS(expr, code, needle)                                     \
  do {                                                                      \
    test_checks++;                                                          \
    segc_clear_error();                                                     \
    segc_status check_status_ = (expr);                                     \
    if (check_status_ != (code) ||                                          \
        !test_contains(segc_error_message(), (needle))) {                   \
      test_failures++;                                                      \
      fprintf(stderr, "FAIL %s:%d: %s: got status %d message '%s', "       \
              "wanted status %d with '%s'\n", __FILE__, __LINE__, #expr,    \
              (int)check_status_, segc_error_message(), (int)(code), (needle)); \
    }                                                                       \
  } while (0)

bool test_contains(const char *haystack, const char *needle);

// Prints "<name>: N checks, M failed" and returns the exit code.
int test_finish(const char *name);
// Whether this CPU has oneDNN bf16 convolutions (AVX-512 machines); when it
// has not, prints once that the bf16 parts of `what` are skipped and why.
bool test_bf16_available(const char *what);
int test_finish_failed(void);

// For tests that start MPI ranks: in the sanitizer build the ranks'
// LeakSanitizer ignores what OpenMPI keeps until exit (tests/mpi_lsan.supp
// names only MPI's libraries); the slow unwinder gives the full stacks those
// names are matched against. Without a sanitizer the variable is unused.
void test_use_mpi_leak_suppressions(void);

// The first executable `name` on PATH into out (size bytes); false when
// there is none (mpirun for the mpi tests, dcm2niix, ...).
bool test_find_on_path(const char *name, char *out, size_t size);

// Exit code that ctest reports as skipped.
enum { TEST_SKIP = 77 };

// The ../shared folder (SEGC_SHARED_DIR), or NULL with a message saying the
// test is skipped.
const char *test_shared_dir(const char *test_name);
// Joins dir and name into a static buffer (one of 8 rotating).
const char *test_path(const char *dir, const char *name);
// A fresh empty temporary folder for this test.
const char *test_temp_dir(const char *test_name);

// Fills with uniform values in [lo, hi) from the counter RNG (stream `stream`).
void test_fill_uniform(float *x, int64_t n, float lo, float hi,
                       uint64_t stream);
void test_fill_uniform_f64(double *x, int64_t n, double lo, double hi,
                           uint64_t stream);

// max |a - b|, and max |a - b| / max(|b|) (0 if b is all zero).
double test_max_abs_diff(const float *a, const double *b, int64_t n);
double test_max_rel_diff(const float *a, const double *b, int64_t n);
double test_max_abs_diff_f32(const float *a, const float *b, int64_t n);

#endif
