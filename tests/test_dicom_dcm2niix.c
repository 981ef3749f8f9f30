// The DICOM reader against dcm2niix on ../shared/data/example_ct_dicom (20
// JPEG 2000 lossless slices): dcm2niix converts the series into a temporary
// folder, and segc's volume must hold the same HU (dcm2niix's scl_slope /
// scl_inter applied) in the same voxel order, with an affine within 1e-3 mm.
// Skipped (77) without ../shared or without dcm2niix.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "data/dicom.h"
#include "data/image_read.h"
#include "data/nifti_io.h"
#include "util/test_util.h"

// Runs dcm2niix on `series` into `out_dir`/ref.nii (uncompressed).
static int run_dcm2niix(const char *series, const char *out_dir) {
  char command[8192];
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
  char cleanup[4200];
  snprintf(cleanup, sizeof cleanup, "rm -rf '%s'", temp);
  if (system(cleanup) != 0) fprintf(stderr, "note: could not remove %s\n", temp);
  return test_finish("dicom_dcm2niix");
}
