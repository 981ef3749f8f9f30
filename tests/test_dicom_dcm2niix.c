// The DICOM reader against dcm2niix on ../shared/data/example_ct_dicom (20
// JPEG 2000 lossless slices): dcm2niix converts the series into a temporary
// folder, and segc's volume must hold the same HU (dcm2niix's scl_slope /
// scl_inter applied) in the same voxel order, with an affine within 1e-3 mm.
// Then small synthetic series (tests/dicom_craft.h) in other orientations
// (sagittal, coronal, oblique, slices stacked against the normal) and
// syntaxes, each compared with dcm2niix the same way. Skipped (77) without
// ../shared or without dcm2niix.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "data/dicom.h"
#include "data/image_read.h"
#include "data/nifti_io.h"
#include "dicom_craft.h"
#include "util/test_util.h"

// Runs dcm2niix on `series` into `out_dir`/ref.nii (uncompressed).
static int run_dcm2niix(const char *series, const char *out_dir) {
  char command[16384];
  snprintf(command, sizeof command,
           "dcm2niix -z n -b n -f ref -o '%s' '%s' >'%s/dcm2niix.log' 2>&1",
           out_dir, series, out_dir);
  return system(command);
}

// Max |a - b| over the volumes (same dims), in HU.
static double max_voxel_diff(const segc_volume *a, const segc_volume *b) {
  double worst = 0.0;
  const int64_t n = segc_volume_numel(a);
  for (int64_t i = 0; i < n; ++i) {
    const double d = fabs((double)segc_load_f32(a->data, a->dtype, (size_t)i) -
                          (double)segc_load_f32(b->data, b->dtype, (size_t)i));
    if (d > worst) worst = d;
  }
  return worst;
}

// Reads `series` with segc and dcm2niix's NIfTI of it; the largest voxel
// (HU) and affine (mm) differences, or -1 for other dims.
static int compare_with_dcm2niix(const char *series, const char *out_dir,
                                 double *voxel_diff, double *affine_diff) {
  *voxel_diff = *affine_diff = -1.0;
  if (run_dcm2niix(series, out_dir) != 0) {
    CHECK(false, "dcm2niix failed on %s (see %s/dcm2niix.log)", series, out_dir);
    return 1;
  }
  segc_volume reference, ours;
  CHECK_OK(segc_nifti_read(test_path(out_dir, "ref.nii"), &reference, NULL));
  CHECK_OK(segc_dicom_read_series(series, NULL, &ours, NULL));
  if (!memcmp(ours.dim, reference.dim, sizeof ours.dim)) {
    *voxel_diff = max_voxel_diff(&ours, &reference);
    *affine_diff = 0.0;
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c)
        *affine_diff = fmax(*affine_diff,
                            fabs(ours.affine[r][c] - reference.affine[r][c]));
  }
  segc_volume_free(&ours);
  segc_volume_free(&reference);
  return 0;
}

typedef struct {
  const char *name, *syntax;
  double orientation[6];
  double step;  // mm along the normal per file; negative: against it
  int pixel_representation;
} synthetic_case;

static int test_synthetic(const char *temp) {
  const double c30 = cos(M_PI / 6), s30 = sin(M_PI / 6);
  const double c10 = cos(M_PI / 18), s10 = sin(M_PI / 18);
  const synthetic_case cases[] = {
      {"axial_down", CRAFT_EXPLICIT, {1, 0, 0, 0, 1, 0}, -2.5, 0},
      {"sagittal", CRAFT_IMPLICIT, {0, 1, 0, 0, 0, -1}, 1.25, 0},
      // (dcm2niix refuses the deflated syntax: test_dicom_read covers it.)
      {"coronal", CRAFT_EXPLICIT, {1, 0, 0, 0, 0, -1}, 3.0, 1},
      // Rotated 30 degrees about z, then tilted 10 degrees about x.
      {"oblique", CRAFT_EXPLICIT, {c30, s30, 0, -s30 * c10, c30 * c10, s10}, 2.0, 1},
      {"oblique_down", CRAFT_IMPLICIT, {c30, -s30, 0, s30 * c10, c30 * c10, -s10}, -1.5, 0},
  };
  enum { kRows = 7, kColumns = 5, kSlices = 4 };
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; ++t) {
    const synthetic_case *sc = &cases[t];
    char dir[4200], out_dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", temp, sc->name);
    snprintf(out_dir, sizeof out_dir, "%s/%s_out", temp, sc->name);
    CHECK(mkdir(dir, 0755) == 0 && mkdir(out_dir, 0755) == 0, "mkdir %s", dir);
    const double *o = sc->orientation;
    const double normal[3] = {o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5],
                              o[0] * o[4] - o[1] * o[3]};
    for (int s = 0; s < kSlices; ++s) {
      uint16_t pixels[kRows * kColumns];
      // Signed: -2048..2047 in 16 stored bits. (With 12 stored bits dcm2niix
      // v1.0.20220720 keeps the low 12 bits unsigned, 0xFF94 -> 3988, where
      // PS3.5 8.1.1 and segc give -108.)
      for (int p = 0; p < kRows * kColumns; ++p) {
        const int v = (p * 97 + s * 389) % 4096;
        pixels[p] = (uint16_t)(sc->pixel_representation ? v - 2048 : v);
      }
      craft_slice slice = craft_default_slice(kRows, kColumns);
      slice.transfer_syntax = sc->syntax;
      memcpy(slice.orientation, o, sizeof slice.orientation);
      for (int d = 0; d < 3; ++d)
        slice.position[d] = -20.0 + 7.0 * d + s * sc->step * normal[d];
      slice.pixel_representation = sc->pixel_representation;
      if (sc->pixel_representation) slice.bits_stored = 16;
      slice.instance = s + 1;
      slice.pixels = pixels;
      char path[8400];
      snprintf(path, sizeof path, "%s/IM%d.dcm", dir, s);
      CHECK(craft_write(path, &slice), "writing %s", path);
    }
    double voxel_diff, affine_diff;
    if (compare_with_dcm2niix(dir, out_dir, &voxel_diff, &affine_diff)) return 1;
    printf("dicom_dcm2niix: %s: max voxel difference %g HU, affine %g mm\n",
           sc->name, voxel_diff, affine_diff);
    CHECK(voxel_diff == 0.0 && affine_diff >= 0.0 && affine_diff <= 1e-3,
          "%s: voxels differ by %g, affine by %g (-1: other dims)", sc->name,
          voxel_diff, affine_diff);
  }
  return 0;
}

int main(void) {
  const char *shared = test_shared_dir("dicom_dcm2niix");
  if (!shared) return TEST_SKIP;
  if (system("command -v dcm2niix >/dev/null 2>&1") != 0) {
    printf("dicom_dcm2niix: SKIPPED: dcm2niix not found (apt-get install "
           "dcm2niix; scripts/setup.sh installs it)\n");
    return TEST_SKIP;
  }
  char series[4096];
  snprintf(series, sizeof series, "%s/data/example_ct_dicom", shared);
  const char *temp = test_temp_dir("dicom_dcm2niix");
  CHECK(run_dcm2niix(series, temp) == 0, "dcm2niix failed (see %s)", temp);

  segc_volume reference, ours;
  CHECK_OK(segc_nifti_read(test_path(temp, "ref.nii"), &reference, NULL));
  segc_dicom_series_info info;
  CHECK_OK(segc_dicom_read_series(series, NULL, &ours, &info));
  CHECK(info.slices == 20, "slices %d", info.slices);
  CHECK(!strcmp(info.transfer_syntax, "1.2.840.10008.1.2.4.90"), "syntax %s",
        info.transfer_syntax);
  CHECK(fabs(info.spacing[2] - 2.0) < 1e-6, "slice spacing %g (positions, "
        "not SliceThickness 3)", info.spacing[2]);
  bool same_dims = true;
  for (int a = 0; a < 3; ++a) same_dims &= ours.dim[a] == reference.dim[a];
  CHECK(same_dims, "dims %lldx%lldx%lld vs dcm2niix %lldx%lldx%lld",
        (long long)ours.dim[0], (long long)ours.dim[1], (long long)ours.dim[2],
        (long long)reference.dim[0], (long long)reference.dim[1],
        (long long)reference.dim[2]);
  if (same_dims) {
    const double voxel_diff = max_voxel_diff(&ours, &reference);
    double affine_diff = 0.0;
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c)
        affine_diff = fmax(affine_diff,
                           fabs(ours.affine[r][c] - reference.affine[r][c]));
    printf("dicom_dcm2niix: max voxel difference %g HU, max affine "
           "difference %g mm (segc %s, dcm2niix %s)\n", voxel_diff,
           affine_diff, segc_dtype_name(ours.dtype),
           segc_dtype_name(reference.dtype));
    CHECK(voxel_diff == 0.0, "voxels differ by up to %g HU", voxel_diff);
    CHECK(affine_diff <= 1e-3, "affine differs by %g mm", affine_diff);
    // HU range the data README states: -1024..1839.
    float lo = 1e9f, hi = -1e9f;
    for (int64_t i = 0; i < segc_volume_numel(&ours); ++i) {
      const float v = segc_load_f32(ours.data, ours.dtype, (size_t)i);
      lo = fminf(lo, v);
      hi = fmaxf(hi, v);
    }
    CHECK(lo == -1024.0f && hi == 1839.0f, "HU range %g..%g", lo, hi);
  }
  // The dispatch: a folder goes to the DICOM reader, with a NIfTI header
  // description for the output.
  segc_volume via_dispatch;
  segc_nifti_info nifti_info;
  CHECK_OK(segc_image_read(series, NULL, &via_dispatch, &nifti_info));
  CHECK(nifti_info.sform_code == 1 && nifti_info.qform_code == 1 &&
            !nifti_info.header_read,
        "dispatch info");
  CHECK(max_voxel_diff(&via_dispatch, &ours) == 0.0, "dispatch voxels");
  segc_volume_free(&via_dispatch);
  segc_volume_free(&ours);
  segc_volume_free(&reference);
  if (test_synthetic(temp)) return test_finish_failed();
  char cleanup[4200];
  snprintf(cleanup, sizeof cleanup, "rm -rf '%s'", temp);
  if (test_failures == 0 && system(cleanup) != 0)
    fprintf(stderr, "note: could not remove %s\n", temp);
  return test_finish("dicom_dcm2niix");
}
