#include "util/test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dnnl_context.h"
#include "core/rng.h"

int test_failures = 0;
int test_checks = 0;

bool test_contains(const char *haystack, const char *needle) {
  return haystack && needle && strstr(haystack, needle) != NULL;
}

int test_finish(const char *name) {
  printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
  return test_failures == 0 ? 0 : 1;
}

int test_finish_failed(void) {
  // Counted here so that a helper whose return value is ignored still makes
  // the whole test fail at test_finish.
  test_failures++;
  printf("a call failed: %d checks, %d failed so far\n", test_checks,
         test_failures);
  return 1;
}

const char *test_shared_dir(const char *test_name) {
  const char *dir = getenv("SEGC_SHARED_DIR");
  if (!dir || !*dir) dir = "../shared";
  char probe[4096];
  snprintf(probe, sizeof probe, "%s/data/example_ct.nii.gz", dir);
  if (access(probe, R_OK) != 0) {
    printf("%s: SKIPPED: ../shared/data not found (looked for %s)\n",
           test_name, probe);
    return NULL;
  }
  return dir;
}

const char *test_path(const char *dir, const char *name) {
  static char buffers[8][4096];
  static int next;
  char *b = buffers[next++ % 8];
  snprintf(b, sizeof buffers[0], "%s/%s", dir, name);
  return b;
}

const char *test_temp_dir(const char *test_name) {
  static char dir[4096];
  const char *base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/segc_%s_XXXXXX", base && *base ? base : "/tmp",
           test_name);
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(1);
  }
  return dir;
}

void test_fill_uniform(float *x, int64_t n, float lo, float hi,
                       uint64_t stream) {
  for (int64_t i = 0; i < n; ++i)
    x[i] = lo + (hi - lo) * segc_rng_uniform(
                                2024, segc_rng_stream(SEGC_RNG_TEST, stream, 0),
                                (uint64_t)i);
}

void test_fill_uniform_f64(double *x, int64_t n, double lo, double hi,
                           uint64_t stream) {
  for (int64_t i = 0; i < n; ++i)
    x[i] = lo + (hi - lo) * segc_rng_uniform(
                                2024, segc_rng_stream(SEGC_RNG_TEST, stream, 0),
                                (uint64_t)i);
}

double test_max_abs_diff(const float *a, const double *b, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double d = fabs((double)a[i] - b[i]);
    if (d > m || d != d) m = d != d ? INFINITY : d;
  }
  return m;
}

double test_max_rel_diff(const float *a, const double *b, int64_t n) {
  double scale = 0.0;
  for (int64_t i = 0; i < n; ++i)
    if (fabs(b[i]) > scale) scale = fabs(b[i]);
  double diff = test_max_abs_diff(a, b, n);
  return scale > 0.0 ? diff / scale : diff;
}

double test_max_abs_diff_f32(const float *a, const float *b, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (d > m || d != d) m = d != d ? INFINITY : d;
  }
  return m;
}

bool test_bf16_available(const char *what) {
  static bool said;
  if (segc_dnnl_has_bf16()) return true;
  if (!said)
    printf("skip: %s: bf16 parts not run, this CPU has no oneDNN bf16 "
           "convolutions (they need AVX-512)\n", what);
  said = true;
  return false;
}

void test_use_mpi_leak_suppressions(void) {
  // Outside ctest the file is found beside the test sources.
  char tests_dir[2048] = ".";
  const char *source_dir = getenv("SEGC_SOURCE_DIR");
  if (source_dir != NULL) {
    snprintf(tests_dir, sizeof tests_dir, "%s/tests", source_dir);
  } else if (strrchr(__FILE__, '/') != NULL) {
    // __FILE__ is tests/util/test_util.c: two levels up is tests/.
    const int util_length = (int)(strrchr(__FILE__, '/') - __FILE__);
    snprintf(tests_dir, sizeof tests_dir, "%.*s/..", util_length, __FILE__);
  }
  static char lsan_options[4096];
  const char *earlier = getenv("LSAN_OPTIONS");
  snprintf(lsan_options, sizeof lsan_options,
           "%.1000s%ssuppressions=%s/mpi_lsan.supp:fast_unwind_on_malloc=0:"
           "print_suppressions=0",
           earlier ? earlier : "", earlier && *earlier ? ":" : "", tests_dir);
  setenv("LSAN_OPTIONS", lsan_options, 1);
}

bool test_find_on_path(const char *name, char *out, size_t size) {
  const char *path = getenv("PATH");
  while (path && *path) {
    const char *end = strchr(path, ':');
    const size_t len = end ? (size_t)(end - path) : strlen(path);
    snprintf(out, size, "%.*s/%s", (int)len, path, name);
    if (len > 0 && access(out, X_OK) == 0) return true;
    path = end ? end + 1 : NULL;
  }
  return false;
}
