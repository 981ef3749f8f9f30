// Valid NIfTI files built byte by byte: every datatype (NIfTI-1 and -2,
// little- and big-endian, plain and gzip), scaling rules, extensions, 4D with
// one volume, multi-member gzip, and the affine from the qform or nibabel's
// fallback. Each voxel is compared with the value stored.
#include "nifti_craft.h"

// Reads and compares every voxel with the stored value (converted as the
// header comment says), and the sform affine.
static void check_valid(const layout *l, const blob *b, const char *name,
                        segc_dtype want_dtype, double slope, double inter) {
  segc_volume v;
  segc_nifti_info info;
  const segc_status status = read_blob(b, name, &v, &info);
  CHECK(status == SEGC_OK, "%s: %s", name, segc_error_message());
  if (status != SEGC_OK) return;
  const int64_t nx = l->dim[1], ny = l->dim[2], nz = numel(l) / (nx * ny);
  CHECK(v.dtype == want_dtype && v.dim[0] == nx && v.dim[1] == ny && v.dim[2] == nz,
        "%s: dtype %s dims %lld %lld %lld", name, segc_dtype_name(v.dtype),
        (long long)v.dim[0], (long long)v.dim[1], (long long)v.dim[2]);
  CHECK(info.nifti_version == l->version && info.file_datatype == l->datatype &&
        info.scl_slope == slope && info.scl_inter == inter,
        "%s: info version %d datatype %d slope %g inter %g", name,
        info.nifti_version, info.file_datatype, info.scl_slope, info.scl_inter);
  int64_t wrong = 0;
  for (int64_t k = 0; k < nz && v.dtype == want_dtype; ++k)
    for (int64_t j = 0; j < ny; ++j)
      for (int64_t i = 0; i < nx; ++i) {
        double expect = stored_value(l->datatype, i + nx * (j + ny * k));
        if (want_dtype == SEGC_F32) expect = (float)(expect * slope + inter);
        const int64_t o = segc_volume_offset(&v, i, j, k);
        double got;
        switch (v.dtype) {
          case SEGC_U8: got = ((uint8_t *)v.data)[o]; break;
          case SEGC_I16: got = ((int16_t *)v.data)[o]; break;
          case SEGC_I32: got = ((int32_t *)v.data)[o]; break;
          default: got = ((float *)v.data)[o]; break;
        }
        wrong += got != expect;
      }
  CHECK(wrong == 0, "%s: %lld voxels differ", name, (long long)wrong);
  const double x0 = l->version == 1 ? 2.0 : 2.1, t0 = l->version == 1 ? -10.0 : -10.1;
  CHECK(v.affine[0][0] == x0 && v.affine[0][3] == t0 && v.affine[1][1] == 3.0 &&
        v.affine[2][3] == 30.5 && v.affine[3][3] == 1.0, "%s: affine", name);
  segc_volume_free(&v);
}

static const int kDatatypes[8] = {NIFTI_TYPE_UINT8,  NIFTI_TYPE_INT8,
                                  NIFTI_TYPE_INT16,  NIFTI_TYPE_UINT16,
                                  NIFTI_TYPE_INT32,  NIFTI_TYPE_UINT32,
                                  NIFTI_TYPE_FLOAT32, NIFTI_TYPE_FLOAT64};

// The header comment's mapping of unscaled stored types to segc dtypes.
static segc_dtype unscaled_dtype(int datatype) {
  switch (datatype) {
    case NIFTI_TYPE_UINT8: return SEGC_U8;
    case NIFTI_TYPE_INT8: case NIFTI_TYPE_INT16: return SEGC_I16;
    case NIFTI_TYPE_UINT16: case NIFTI_TYPE_INT32: return SEGC_I32;
    default: return SEGC_F32;
  }
}

static void check_datatypes(void) {
  char name[128];
  for (int t = 0; t < 8; ++t)
    for (int version = 1; version <= 2; ++version)
      for (int big = 0; big <= 1; ++big) {
        layout l = basic(kDatatypes[t]);
        l.version = version;
        l.vox_offset = version == 1 ? 352 : 544;
        l.big_endian = big;
        blob plain = assemble(&l, NULL, numel(&l));
        blob gz = gzip_blob(&plain);
        const segc_dtype want = unscaled_dtype(l.datatype);
        snprintf(name, sizeof name, "type%d_v%d_%s.nii", l.datatype, version, big ? "be" : "le");
        check_valid(&l, &plain, name, want, 1.0, 0.0);
        snprintf(name, sizeof name, "type%d_v%d_%s.nii.gz", l.datatype, version, big ? "be" : "le");
        check_valid(&l, &gz, name, want, 1.0, 0.0);
        blob_free(&plain);
        blob_free(&gz);
      }
}

static double g_slope, g_inter;
static void set_scaling(void *header, int version) {
  if (version == 1) {
    ((nifti_1_header *)header)->scl_slope = (float)g_slope;
    ((nifti_1_header *)header)->scl_inter = (float)g_inter;
  } else {
    ((nifti_2_header *)header)->scl_slope = g_slope;
    ((nifti_2_header *)header)->scl_inter = g_inter;
  }
}

static void check_scaling(int datatype, int version, bool big, double slope,
                          double inter, bool applied) {
  layout l = basic(datatype);
  l.version = version;
  l.vox_offset = version == 1 ? 352 : 544;
  l.big_endian = big;
  g_slope = slope;
  g_inter = inter;
  blob b = assemble(&l, set_scaling, numel(&l));
  char name[128];
  snprintf(name, sizeof name, "scaled_%d_v%d_%g_%g.nii", datatype, version, slope, inter);
  check_valid(&l, &b, name, applied ? SEGC_F32 : unscaled_dtype(datatype),
              applied ? slope : 1.0, applied ? inter : 0.0);
  blob_free(&b);
}

static void check_variants(void) {
  check_scaling(NIFTI_TYPE_INT16, 1, false, 2.0, -1024.0, true);
  check_scaling(NIFTI_TYPE_INT16, 1, false, 0.0, 5.0, false);      // slope 0
  check_scaling(NIFTI_TYPE_INT16, 1, false, NAN, NAN, false);      // nibabel's NaN
  check_scaling(NIFTI_TYPE_INT16, 1, false, INFINITY, 0.0, false);
  check_scaling(NIFTI_TYPE_INT16, 1, false, 1.0, 0.0, false);      // identity
  check_scaling(NIFTI_TYPE_INT16, 1, false, 1.0, 5.0, true);
  check_scaling(NIFTI_TYPE_UINT8, 1, true, 0.5, 0.0, true);
  check_scaling(NIFTI_TYPE_FLOAT64, 2, true, 2.0, -1.0, true);

  // TotalSegmentator's layout: a 12.8 KB extension, voxels at 13168.
  layout l = basic(NIFTI_TYPE_UINT8);
  l.vox_offset = 13168;
  blob b = assemble(&l, NULL, numel(&l));
  b.bytes[348] = 1;  // extension flag
  const int32_t esize = 13168 - 352, ecode = 0;
  memcpy(b.bytes + 352, &esize, 4);
  memcpy(b.bytes + 356, &ecode, 4);
  memset(b.bytes + 360, 'x', (size_t)esize - 8);
  check_valid(&l, &b, "extension.nii", SEGC_U8, 1.0, 0.0);
  blob gz = gzip_blob(&b);
  check_valid(&l, &gz, "extension.nii.gz", SEGC_U8, 1.0, 0.0);
  blob_free(&gz);

  // Two gzip members (as `cat a.gz b.gz` makes) and bytes after the last
  // member (ignored, as gzip does).
  blob first = {b.bytes, b.size / 2}, second = {b.bytes + b.size / 2, b.size - b.size / 2};
  blob gz1 = gzip_blob(&first), gz2 = gzip_blob(&second);
  blob joined = {malloc(gz1.size + gz2.size + 7), gz1.size + gz2.size + 7};
  memcpy(joined.bytes, gz1.bytes, gz1.size);
  memcpy(joined.bytes + gz1.size, gz2.bytes, gz2.size);
  memcpy(joined.bytes + gz1.size + gz2.size, "garbage", 7);
  check_valid(&l, &joined, "two_members.nii.gz", SEGC_U8, 1.0, 0.0);
  blob_free(&joined);
  blob_free(&gz1);
  blob_free(&gz2);
  blob_free(&b);

  layout four = basic(NIFTI_TYPE_INT16);  // 4D with one volume
  four.dim[0] = 4;
  b = assemble(&four, NULL, numel(&four));
  check_valid(&four, &b, "4d_one_volume.nii", SEGC_I16, 1.0, 0.0);
  blob_free(&b);
  layout flat = basic(NIFTI_TYPE_INT16);  // 2D: a single slice
  flat.dim[0] = 2;
  flat.dim[3] = 7;  // beyond dim[0]: ignored
  b = assemble(&flat, NULL, numel(&flat));
  check_valid(&flat, &b, "2d.nii", SEGC_I16, 1.0, 0.0);
  blob_free(&b);
}

// qform: 90 degrees about z (b = c = 0, d = sin 45), pixdim 2, 3, 4,
// qoffset 1, 2, 3; qfac and the codes vary.
static float g_qfac;
static short g_sform_code, g_qform_code;
static void set_qform(void *header, int version) {
  (void)version;
  nifti_1_header *h = header;
  h->sform_code = g_sform_code;
  h->qform_code = g_qform_code;
  h->pixdim[0] = g_qfac;
  h->quatern_d = (float)sin(M_PI / 4);
  h->qoffset_x = 1;
  h->qoffset_y = 2;
  h->qoffset_z = 3;
}

static void check_affine_case(const char *name, float qfac, short scode,
                              short qcode, const double want[3][4]) {
  layout l = basic(NIFTI_TYPE_UINT8);
  g_qfac = qfac;
  g_sform_code = scode;
  g_qform_code = qcode;
  blob b = assemble(&l, set_qform, numel(&l));
  segc_volume v;
  const segc_status status = read_blob(&b, name, &v, NULL);
  CHECK(status == SEGC_OK, "%s: %s", name, segc_error_message());
  if (status == SEGC_OK) {
    // b, c, d are float32: sin 45 is off by 1e-8 and a = sqrt(1 - d^2)
    // follows, so rotation entries move by ~1e-7, times pixdim <= 4.
    double worst = 0.0;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c) worst = fmax(worst, fabs(v.affine[r][c] - want[r][c]));
    CHECK(worst <= 1e-6, "%s: affine off by %g", name, worst);
    segc_volume_free(&v);
  }
  blob_free(&b);
}

static void check_affines(void) {
  // R = [[0,-1,0],[1,0,0],[0,0,1]] times diag(2, 3, 4 * qfac).
  const double q_neg[3][4] = {{0, -3, 0, 1}, {2, 0, 0, 2}, {0, 0, -4, 3}};
  const double q_pos[3][4] = {{0, -3, 0, 1}, {2, 0, 0, 2}, {0, 0, 4, 3}};
  check_affine_case("qform_qfac_neg.nii", -1.0f, 0, 1, q_neg);
  // nibabel treats a qfac other than -1 or 1 as 1.
  check_affine_case("qform_qfac_zero.nii", 0.0f, 0, 1, q_pos);
  // Codes outside 0..5 count as 0 (nibabel resets them), so the qform wins.
  check_affine_case("qform_bad_sform_code.nii", 1.0f, 7, 4, q_pos);
  // Neither xform: nibabel's fallback, pixdim with x negated, centred on
  // the grid: translation -(n - 1) / 2 * zoom for n = 3, 4, 5.
  const double fallback[3][4] = {{-2, 0, 0, 2}, {0, 3, 0, -4.5}, {0, 0, 4, -8}};
  check_affine_case("no_xform.nii", 1.0f, 0, 0, fallback);
  check_affine_case("negative_codes.nii", 1.0f, -1, -2, fallback);
}

int main(void) {
  nifti_set_debug_level(0);
  g_dir = test_temp_dir("nifti_crafted");
  check_datatypes();
  check_variants();
  check_affines();
  return test_finish("nifti_crafted");
}
