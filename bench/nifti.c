// segbench nifti: NIfTI read and write times (median of --repeat runs) for
// the shared example CT and for 512x512x400 volumes (f32 CT-like values and
// u8 labels), .nii.gz and .nii.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_harness.h"
#include "core/parallel.h"
#include "data/nifti_io.h"

static long file_bytes(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  const long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  fclose(f);
  return n;
}

// Times `repeat` reads of `path`; returns 0 or 1 after printing the error.
static int time_read(const char *label, const char *path, int repeat,
                     double *ms) {
  double t[64];
  for (int r = 0; r < repeat; ++r) {
    segc_volume v;
    const double start = segc_now();
    if (segc_nifti_read(path, &v, NULL) != SEGC_OK) {
      fprintf(stderr, "segbench nifti: %s\n", segc_error_message());
      return 1;
    }
    t[r] = 1e3 * (segc_now() - start);
    segc_volume_free(&v);
  }
  *ms = bench_median(t, repeat);
  printf("  %-34s read  %9.1f ms  (%ld bytes on disk)\n", label, *ms,
         file_bytes(path));
  return 0;
}

static int time_write(const char *label, const char *path, const segc_volume *v,
                      int repeat) {
  double t[64];
  for (int r = 0; r < repeat; ++r) {
    const double start = segc_now();
    if (segc_nifti_write(path, v, NULL) != SEGC_OK) {
      fprintf(stderr, "segbench nifti: %s\n", segc_error_message());
      return 1;
    }
    t[r] = 1e3 * (segc_now() - start);
  }
  printf("  %-34s write %9.1f ms\n", label, bench_median(t, repeat));
  return 0;
}

// CT-like f32: integer HU with smooth structure (so gzip has something to
// find, as in real scans), and labels that are mostly background.
static void fill_ct(segc_volume *v) {
  float *x = v->data;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < v->dim[0]; ++i)
    for (int64_t j = 0; j < v->dim[1]; ++j)
      for (int64_t k = 0; k < v->dim[2]; ++k)
        x[segc_volume_offset(v, i, j, k)] =
            (float)floor(800.0 * sin(0.05 * (double)i) * cos(0.03 * (double)j) +
                         (double)((i * 7 + j * 3 + k) % 23) - 200.0);
}

static void fill_labels(segc_volume *v) {
  uint8_t *x = v->data;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < v->dim[0]; ++i)
    for (int64_t j = 0; j < v->dim[1]; ++j)
      for (int64_t k = 0; k < v->dim[2]; ++k) {
        const double r = hypot((double)i - 256.0, (double)j - 256.0);
        x[segc_volume_offset(v, i, j, k)] =
            r < 180.0 ? (uint8_t)(1 + (int)(r / 12.0 + (double)k / 40.0) % 104) : 0;
      }
}

int segc_bench_nifti(int argc, char **argv) {
  int repeat = 3, threads = 0;
  const char *dir = "/tmp";
  const char *shared = getenv("SEGC_SHARED_DIR");
  for (int a = 1; a < argc; ++a) {
    if (!strcmp(argv[a], "--repeat") && a + 1 < argc) repeat = atoi(argv[++a]);
    else if (!strcmp(argv[a], "--threads") && a + 1 < argc) threads = atoi(argv[++a]);
    else if (!strcmp(argv[a], "--dir") && a + 1 < argc) dir = argv[++a];
    else if (!strcmp(argv[a], "--shared") && a + 1 < argc) shared = argv[++a];
    else {
      fprintf(stderr, "usage: segbench nifti [--repeat N] [--threads N] "
                      "[--dir TMPDIR] [--shared SHARED_DIR]\n");
      return 2;
    }
  }
  if (repeat < 1 || repeat > 64) repeat = 3;
  segc_set_threads(threads);
  printf("segbench nifti: %d threads, median of %d\n", segc_threads(), repeat);
  char path[4096];
  double ms;
  snprintf(path, sizeof path, "%s/data/example_ct.nii.gz", shared ? shared : "../shared");
  if (access(path, R_OK) == 0) {
    if (time_read("example_ct 122x101x112 i32 .nii.gz", path, repeat, &ms)) return 1;
  } else {
    printf("  example_ct: not found at %s (set --shared)\n", path);
  }
  const int64_t dim[3] = {512, 512, 400};
  segc_volume ct, labels;
  if (segc_volume_alloc(&ct, SEGC_F32, dim) != SEGC_OK ||
      segc_volume_alloc(&labels, SEGC_U8, dim) != SEGC_OK) {
    fprintf(stderr, "segbench nifti: %s\n", segc_error_message());
    return 1;
  }
  fill_ct(&ct);
  fill_labels(&labels);
  struct { const char *label, *name; const segc_volume *v; } cases[] = {
      {"512x512x400 f32 .nii.gz", "segbench_ct.nii.gz", &ct},
      {"512x512x400 f32 .nii", "segbench_ct.nii", &ct},
      {"512x512x400 u8 labels .nii.gz", "segbench_labels.nii.gz", &labels},
  };
  int status = 0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0] && !status; ++c) {
    snprintf(path, sizeof path, "%s/%s", dir, cases[c].name);
    status = time_write(cases[c].label, path, cases[c].v, repeat);
    if (!status) status = time_read(cases[c].label, path, repeat, &ms);
    unlink(path);
  }
  segc_volume_free(&ct);
  segc_volume_free(&labels);
  return status;
}
