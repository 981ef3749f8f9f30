// NIfTI reading against nibabel's view of the shared CT data and of tiny
// nibabel-made files, and write/read round trips checked with niftilib (an
// independent reader) for voxels, header fields, sform and qform.
//
// Expected values come from tools/make_nifti_reference.py (nibabel), stored
// in tests/data/*.txt; this test runs no Python.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nifti2_io.h>

#include "core/parallel.h"
#include "data/nifti_io.h"
#include "util/test_util.h"

// A voxel as double: exact for every dtype the reader produces.
static double voxel(const segc_volume *v, int64_t offset) {
  switch (v->dtype) {
    case SEGC_U8: return ((const uint8_t *)v->data)[offset];
    case SEGC_I16: return ((const int16_t *)v->data)[offset];
    case SEGC_I32: return ((const int32_t *)v->data)[offset];
    default: return ((const float *)v->data)[offset];
  }
}

// sum v, sum v*(i+1), sum v*(j+1), sum v*(k+1) in double, as the Python
// script computes them.
static void weighted_sums(const segc_volume *v, double sums[4]) {
  memset(sums, 0, 4 * sizeof(double));
  for (int64_t i = 0; i < v->dim[0]; ++i)
    for (int64_t j = 0; j < v->dim[1]; ++j)
      for (int64_t k = 0; k < v->dim[2]; ++k) {
        const double x = voxel(v, segc_volume_offset(v, i, j, k));
        sums[0] += x;
        sums[1] += x * (double)(i + 1);
        sums[2] += x * (double)(j + 1);
        sums[3] += x * (double)(k + 1);
      }
}

static FILE *open_expected(const char *name) {
  const char *source = getenv("SEGC_SOURCE_DIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/tests/data/%s", source ? source : ".", name);
  FILE *f = fopen(path, "r");
  if (!f) fprintf(stderr, "cannot open %s\n", path);
  return f;
}

// Lines shared by both expected files: shape, datatype, affine, sums.
// `sum_tolerance` is relative to the largest |sum|.
static void check_common_line(const char *line, const segc_volume *v,
                              const segc_nifti_info *info, const char *file,
                              double sum_tolerance) {
  long long a, b, c;
  double m[16];
  if (sscanf(line, "shape %lld %lld %lld", &a, &b, &c) == 3) {
    CHECK(v->dim[0] == a && v->dim[1] == b && v->dim[2] == c,
          "%s: shape %lldx%lldx%lld, nibabel %lldx%lldx%lld", file,
          (long long)v->dim[0], (long long)v->dim[1], (long long)v->dim[2], a, b, c);
  } else if (sscanf(line, "datatype %lld", &a) == 1) {
    CHECK(info->file_datatype == a, "%s: datatype %d, nibabel %lld", file,
          info->file_datatype, a);
  } else if (sscanf(line, "affine %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf "
                    "%lf %lf %lf %lf", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
                    &m[6], &m[7], &m[8], &m[9], &m[10], &m[11], &m[12], &m[13],
                    &m[14], &m[15]) == 16) {
    // Both sides compute from the same float32 header fields in double;
    // 1e-9 covers a different order of operations in the quaternion math.
    double worst = 0.0;
    for (int e = 0; e < 16; ++e)
      worst = fmax(worst, fabs(v->affine[e / 4][e % 4] - m[e]));
    CHECK(worst <= 1e-9, "%s: affine differs from nibabel's by %g", file, worst);
  } else if (sscanf(line, "sums %lf %lf %lf %lf", &m[0], &m[1], &m[2], &m[3]) == 4) {
    double got[4];
    weighted_sums(v, got);
    double scale = 0.0, worst = 0.0;
    for (int s = 0; s < 4; ++s) scale = fmax(scale, fabs(m[s]));
    for (int s = 0; s < 4; ++s) worst = fmax(worst, fabs(got[s] - m[s]));
    CHECK(worst <= sum_tolerance * fmax(scale, 1.0),
          "%s: weighted sums off by %g (sum %.17g vs %.17g)", file, worst,
          got[0], m[0]);
  }
}

// README facts for the shared files, stated independently of nibabel.
static void check_readme_facts(const char *file, const segc_volume *v,
                               const segc_nifti_info *info, const char *path) {
  double spacing[3];
  segc_volume_spacing(v, spacing);
  if (strstr(file, "dicom")) {
    // LAS, 0.9765625 x 0.9765625 x 2.0, origin (249.512, -61.512, -804.5).
    CHECK(v->affine[0][0] == -0.9765625 && v->affine[1][1] == 0.9765625 &&
          v->affine[2][2] == 2.0, "%s: not LAS with the README spacing", file);
    CHECK(fabs(v->affine[0][3] - 249.512) < 1e-3 &&
          fabs(v->affine[1][3] + 61.512) < 1e-3 && v->affine[2][3] == -804.5,
          "%s: origin %g %g %g", file, v->affine[0][3], v->affine[1][3],
          v->affine[2][3]);
    CHECK(info->xyzt_units == 2, "%s: xyzt_units %d", file, info->xyzt_units);
    // qfac is pixdim[0] of the raw header (niftilib only decodes it for a
    // qform with a non-zero code).
    int version = 0;
    nifti_1_header *raw = nifti_read_header(path, &version, 1);
    CHECK(raw && version == 1 && raw->pixdim[0] == -1.0f,
          "%s: qfac %g, README says -1", file, raw ? raw->pixdim[0] : 0.0);
    free(raw);
  } else {
    for (int a = 0; a < 3; ++a)
      CHECK(fabs(spacing[a] - 3.0) < 1e-6 && v->affine[a][a] > 0,
            "%s: axis %d spacing %g, README says 3.0 RAS", file, a, spacing[a]);
    CHECK(fabs(v->affine[0][3] + 177.956) < 1e-3 &&
          fabs(v->affine[1][3] - 11.319) < 1e-3 &&
          fabs(v->affine[2][3] - 94.302) < 1e-3, "%s: origin", file);
  }
  CHECK(info->sform_code == 2 && info->qform_code == 0,
        "%s: codes q%d s%d, README says q0 s2", file, info->qform_code,
        info->sform_code);
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t n = 0; n < segc_volume_numel(v); ++n) {
    lo = fmin(lo, voxel(v, n));
    hi = fmax(hi, voxel(v, n));
  }
  if (!strcmp(file, "example_ct.nii.gz")) {
    CHECK(v->dtype == SEGC_I32, "example_ct dtype %s", segc_dtype_name(v->dtype));
    CHECK(lo == -1207 && hi == 3382, "example_ct HU %g..%g, README -1207..3382", lo, hi);
  } else if (!strcmp(file, "example_ct_sm.nii.gz")) {
    CHECK(v->dtype == SEGC_I16, "example_ct_sm dtype %s", segc_dtype_name(v->dtype));
    CHECK(lo == -1100 && hi == 1207, "example_ct_sm HU %g..%g, README -1100..1207", lo, hi);
  } else {
    CHECK(v->dtype == SEGC_U8, "%s dtype %s", file, segc_dtype_name(v->dtype));
  }
  if (!strcmp(file, "example_ct_label104.nii.gz")) {
    // README counts: spleen, liver, lung_middle_lobe_right, heart_myocardium,
    // urinary_bladder.
    const int labels[5] = {1, 5, 16, 44, 104};
    const int64_t readme[5] = {9677, 41602, 1, 3, 17744};
    int64_t counts[256] = {0};
    const uint8_t *x = v->data;
    for (int64_t n = 0; n < segc_volume_numel(v); ++n) counts[x[n]]++;
    for (int c = 0; c < 5; ++c)
      CHECK(counts[labels[c]] == readme[c], "class %d: %lld voxels, README %lld",
            labels[c], (long long)counts[labels[c]], (long long)readme[c]);
  }
}

static void check_shared_files(const char *shared) {
  FILE *expected = open_expected("nifti_shared_expected.txt");
  CHECK(expected != NULL, "missing tests/data/nifti_shared_expected.txt");
  if (!expected) return;
  char line[512], file[256] = "", path[4096];
  segc_volume v = {0};
  segc_nifti_info info;
  int64_t counts[256];
  int files = 0;
  bool loaded = false;
  while (fgets(line, sizeof line, expected)) {
    long long a, b, c, d;
    if (sscanf(line, "file %255s", file) == 1) {
      snprintf(path, sizeof path, "%s/data/%s", shared, file);
      const double start = segc_now();
      const segc_status status = segc_nifti_read(path, &v, &info);
      CHECK(status == SEGC_OK, "%s: %s", file, segc_error_message());
      loaded = status == SEGC_OK;
      if (!loaded) continue;
      printf("read %-36s %lldx%lldx%lld %-3s in %.1f ms\n", file,
             (long long)v.dim[0], (long long)v.dim[1], (long long)v.dim[2],
             segc_dtype_name(v.dtype), 1e3 * (segc_now() - start));
      files++;
      memset(counts, 0, sizeof counts);
      if (v.dtype == SEGC_U8)
        for (int64_t n = 0; n < segc_volume_numel(&v); ++n)
          counts[((const uint8_t *)v.data)[n]]++;
      check_readme_facts(file, &v, &info, path);
    } else if (!loaded) {
      continue;
    } else if (sscanf(line, "range %lld %lld", &a, &b) == 2) {
      double lo = INFINITY, hi = -INFINITY;
      for (int64_t n = 0; n < segc_volume_numel(&v); ++n) {
        lo = fmin(lo, voxel(&v, n));
        hi = fmax(hi, voxel(&v, n));
      }
      CHECK(lo == a && hi == b, "%s: range %g..%g, nibabel %lld..%lld", file,
            lo, hi, a, b);
    } else if (sscanf(line, "voxel %lld %lld %lld %lld", &a, &b, &c, &d) == 4) {
      const double x = voxel(&v, segc_volume_offset(&v, a, b, c));
      CHECK(x == d, "%s: voxel (%lld,%lld,%lld) is %g, nibabel %lld", file, a,
            b, c, x, d);
    } else if (sscanf(line, "count %lld %lld", &a, &b) == 2) {
      CHECK(a >= 0 && a < 256 && counts[a] == b,
            "%s: label %lld has %lld voxels, nibabel %lld", file, a,
            (long long)(a >= 0 && a < 256 ? counts[a] : -1), b);
    } else if (!strncmp(line, "end", 3)) {
      segc_volume_free(&v);
      loaded = false;
    } else {
      // Integer data: every sum is an integer below 2^53, exact in double.
      check_common_line(line, &v, &info, file, 0.0);
    }
  }
  fclose(expected);
  segc_volume_free(&v);
  CHECK(files == 5, "read %d shared files, expected 5", files);
}

static void check_seed_files(void) {
  FILE *expected = open_expected("nifti_seed_expected.txt");
  CHECK(expected != NULL, "missing tests/data/nifti_seed_expected.txt");
  if (!expected) return;
  const char *source = getenv("SEGC_SOURCE_DIR");
  char line[512], file[256] = "", path[4096];
  segc_volume v = {0};
  segc_nifti_info info;
  bool loaded = false;
  int files = 0;
  while (fgets(line, sizeof line, expected)) {
    double slope, inter;
    if (sscanf(line, "file %255s", file) == 1) {
      snprintf(path, sizeof path, "%s/tests/fuzz/corpus_nifti/%s",
               source ? source : ".", file);
      const segc_status status = segc_nifti_read(path, &v, &info);
      CHECK(status == SEGC_OK, "%s: %s", file, segc_error_message());
      loaded = status == SEGC_OK;
      files += loaded;
    } else if (!loaded) {
      continue;
    } else if (sscanf(line, "scaling %lf %lf", &slope, &inter) == 2) {
      CHECK(info.scl_slope == slope && info.scl_inter == inter,
            "%s: scaling %g %g, nibabel %g %g", file, info.scl_slope,
            info.scl_inter, slope, inter);
      const bool float_out = slope != 1.0 || inter != 0.0 ||
                             info.file_datatype == 16 ||
                             info.file_datatype == 64 ||
                             info.file_datatype == 768;
      CHECK(float_out == (v.dtype == SEGC_F32), "%s: dtype %s", file,
            segc_dtype_name(v.dtype));
    } else if (!strncmp(line, "end", 3)) {
      segc_volume_free(&v);
      loaded = false;
    } else {
      // Seeds hold float32/float64/uint32 data that segc rounds to float32:
      // relative error 2^-24 per value, so 1e-6 of the largest sum.
      check_common_line(line, &v, &info, file, 1e-6);
    }
  }
  fclose(expected);
  segc_volume_free(&v);
  CHECK(files >= 18, "read %d seed files", files);
}

// The reader's result must not depend on the number of threads.
static void check_thread_independence(const char *shared) {
  const char *path = test_path(shared, "data/example_ct.nii.gz");
  segc_volume one = {0}, two = {0};
  const int threads = segc_threads();
  segc_set_threads(1);
  const segc_status s1 = segc_nifti_read(path, &one, NULL);
  segc_set_threads(2);
  const segc_status s2 = segc_nifti_read(path, &two, NULL);
  segc_set_threads(threads);
  CHECK(s1 == SEGC_OK && s2 == SEGC_OK, "%s", segc_error_message());
  if (s1 == SEGC_OK && s2 == SEGC_OK)
    CHECK(memcmp(one.data, two.data, (size_t)segc_volume_numel(&one) * 4) == 0,
          "1 and 2 threads read different voxels");
  segc_volume_free(&one);
  segc_volume_free(&two);
}

int main(void) {
  nifti_set_debug_level(0);
  check_seed_files();
  const char *shared = test_shared_dir("nifti_io");
  if (!shared) return test_failures ? test_finish("nifti_io") : TEST_SKIP;
  check_shared_files(shared);
  check_thread_independence(shared);
  return test_finish("nifti_io");
}
