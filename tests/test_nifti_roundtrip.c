// segc_nifti_write then segc_nifti_read gives back the same voxels, dtype and
// affine, for u8/i16/i32/f32, .nii and .nii.gz, and affines in several
// orientations. niftilib (an independent reader) checks the written header
// fields, the voxel order on disk, and that the qform agrees with the sform.
// A volume written with the info of the file it came from, on its grid,
// keeps that file's qform and sform as they were.
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <nifti2_io.h>

#include "core/parallel.h"
#include "data/nifti_internal.h"
#include "data/nifti_io.h"
#include "util/test_util.h"

typedef struct {
  const char *name;
  double affine[4][4];
} orientation;

static void rotation_about(const double axis[3], double degrees, double r[3][3]) {
  const double norm = sqrt(axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]);
  const double x = axis[0] / norm, y = axis[1] / norm, z = axis[2] / norm;
  const double t = degrees * M_PI / 180.0, c = cos(t), s = sin(t), C = 1.0 - c;
  const double m[3][3] = {{c + x * x * C, x * y * C - z * s, x * z * C + y * s},
                          {y * x * C + z * s, c + y * y * C, y * z * C - x * s},
                          {z * x * C - y * s, z * y * C + x * s, c + z * z * C}};
  memcpy(r, m, sizeof m);
}

// Affine = rotation * diag(spacing) * shear, plus a translation.
static orientation oblique(const char *name, double degrees, bool flip,
                           double shear) {
  orientation o = {name, {{0}}};
  double r[3][3];
  rotation_about((const double[3]){1, 2, 3}, degrees, r);
  const double spacing[3] = {0.9, 1.1, flip ? -2.2 : 2.2};
  const double s[3][3] = {{1, shear, 0}, {0, 1, 0.5 * shear}, {0, 0, 1}};
  for (int row = 0; row < 3; ++row)
    for (int c = 0; c < 3; ++c)
      for (int m = 0; m < 3; ++m) o.affine[row][c] += r[row][m] * spacing[m] * s[m][c];
  o.affine[0][3] = 10.25;
  o.affine[1][3] = -20.5;
  o.affine[2][3] = 30.125;
  o.affine[3][3] = 1.0;
  return o;
}

static void fill_random(segc_volume *v, uint64_t stream) {
  const int64_t n = segc_volume_numel(v);
  float *u = malloc(sizeof(float) * (size_t)n);
  test_fill_uniform(u, n, 0.0f, 1.0f, stream);
  for (int64_t e = 0; e < n; ++e) {
    const double x = u[e];
    switch (v->dtype) {
      case SEGC_U8: ((uint8_t *)v->data)[e] = (uint8_t)(x * 255.999); break;
      case SEGC_I16: ((int16_t *)v->data)[e] = (int16_t)floor(-32768.0 + x * 65535.999); break;
      case SEGC_I32: ((int32_t *)v->data)[e] = (int32_t)floor(-2147483648.0 + x * 4294967295.0); break;
      default: ((float *)v->data)[e] = (float)(-1000.0 + 2000.0 * x); break;
    }
  }
  free(u);
}

static double max_col_norm(const double a[4][4]) {
  double m = 0.0;
  for (int c = 0; c < 3; ++c)
    m = fmax(m, sqrt(a[0][c] * a[0][c] + a[1][c] * a[1][c] + a[2][c] * a[2][c]));
  return m;
}

static double det3(const double m[3][3]) {
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
         m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
         m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

// The qform niftilib decodes must be the affine (orthogonal case), or its
// closest rotation: Q orthogonal with Q^T N symmetric positive definite,
// where N is the affine with unit columns (the polar decomposition N = Q H).
static void check_qform(const nifti_image *nim, const double affine[4][4],
                        const char *what) {
  double n[3][3], q[3][3], norms[3];
  for (int c = 0; c < 3; ++c) {
    norms[c] = sqrt(affine[0][c] * affine[0][c] + affine[1][c] * affine[1][c] +
                    affine[2][c] * affine[2][c]);
    for (int r = 0; r < 3; ++r) n[r][c] = affine[r][c] / norms[c];
  }
  const double qfac = det3(n) < 0 ? -1.0 : 1.0;
  CHECK(nim->qfac == qfac, "%s: qfac %g, expected %g", what, nim->qfac, qfac);
  for (int r = 0; r < 3; ++r) n[r][2] *= qfac;
  for (int c = 0; c < 3; ++c)
    for (int r = 0; r < 3; ++r)
      q[r][c] = nim->qto_xyz.m[r][c] / (nim->pixdim[c + 1] * (c == 2 ? qfac : 1.0));
  // b, c, d are float32 (relative rounding 6e-8); 1e-6 leaves room for the
  // products in the rotation matrix.
  const double tol = 1e-6;
  double worst_orth = 0.0, worst_sym = 0.0, min_diag = INFINITY;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      double qq = 0.0, h_ab = 0.0, h_ba = 0.0;
      for (int r = 0; r < 3; ++r) {
        qq += q[r][a] * q[r][b];
        h_ab += q[r][a] * n[r][b];
        h_ba += q[r][b] * n[r][a];
      }
      worst_orth = fmax(worst_orth, fabs(qq - (a == b)));
      worst_sym = fmax(worst_sym, fabs(h_ab - h_ba));
      if (a == b) min_diag = fmin(min_diag, h_ab);
    }
  CHECK(worst_orth <= tol && worst_sym <= tol && min_diag > 0,
        "%s: qform rotation is not the polar factor (orth %g, sym %g, diag %g)",
        what, worst_orth, worst_sym, min_diag);
  for (int r = 0; r < 3; ++r)
    CHECK(nim->qto_xyz.m[r][3] == (double)(float)affine[r][3],
          "%s: qoffset %d is %g", what, r, nim->qto_xyz.m[r][3]);
  for (int c = 0; c < 3; ++c)
    CHECK(fabs(nim->pixdim[c + 1] - norms[c]) <= 1e-6 * norms[c],
          "%s: pixdim[%d] %g, column norm %g", what, c + 1, nim->pixdim[c + 1],
          norms[c]);
}

// The written file read by niftilib: header fields and the voxel order.
static void check_with_niftilib(const char *path, const segc_volume *v,
                                const double affine[4][4], bool orthogonal,
                                int want_qcode, int want_scode) {
  nifti_image *nim = nifti_image_read(path, 1);
  CHECK(nim != NULL, "niftilib cannot read %s", path);
  if (!nim) return;
  static const int codes[] = {[SEGC_U8] = NIFTI_TYPE_UINT8,
                              [SEGC_I16] = NIFTI_TYPE_INT16,
                              [SEGC_I32] = NIFTI_TYPE_INT32,
                              [SEGC_F32] = NIFTI_TYPE_FLOAT32};
  CHECK(nim->nx == v->dim[0] && nim->ny == v->dim[1] && nim->nz == v->dim[2] &&
        nim->ndim == 3, "%s: niftilib dims", path);
  CHECK(nim->datatype == codes[v->dtype], "%s: datatype %d", path, nim->datatype);
  CHECK(nim->scl_slope == 1.0 && nim->scl_inter == 0.0 &&
        nim->iname_offset == 352 && nim->xyz_units == NIFTI_UNITS_MM &&
        nim->nifti_type == NIFTI_FTYPE_NIFTI1_1,
        "%s: slope %g inter %g offset %lld units %d type %d", path,
        nim->scl_slope, nim->scl_inter, (long long)nim->iname_offset,
        nim->xyz_units, nim->nifti_type);
  CHECK(nim->qform_code == want_qcode && nim->sform_code == want_scode,
        "%s: codes q%d s%d", path, nim->qform_code, nim->sform_code);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      CHECK(nim->sto_xyz.m[r][c] == (double)(float)affine[r][c],
            "%s: sform[%d][%d] %g", path, r, c, nim->sto_xyz.m[r][c]);
  check_qform(nim, affine, path);
  if (orthogonal) {
    const double tol = 1e-6 * max_col_norm(affine);
    double worst = 0.0;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c)
        worst = fmax(worst, fabs(nim->qto_xyz.m[r][c] - nim->sto_xyz.m[r][c]));
    CHECK(worst <= tol, "%s: qform and sform differ by %g", path, worst);
  }
  // On disk i is fastest: element i + nx * (j + ny * k).
  const size_t elem = segc_dtype_size(v->dtype);
  int64_t mismatches = 0;
  for (int64_t i = 0; i < v->dim[0]; ++i)
    for (int64_t j = 0; j < v->dim[1]; ++j)
      for (int64_t k = 0; k < v->dim[2]; ++k) {
        const int64_t disk = i + v->dim[0] * (j + v->dim[1] * k);
        mismatches += memcmp((const char *)nim->data + disk * elem,
                             (const char *)v->data + segc_volume_offset(v, i, j, k) * elem,
                             elem) != 0;
      }
  CHECK(mismatches == 0, "%s: %lld voxels differ in niftilib's read", path,
        (long long)mismatches);
  nifti_image_free(nim);
}

static void round_trip(const char *dir, const orientation *o, segc_dtype dtype,
                       const int64_t dim[3], const char *ext, bool orthogonal) {
  char path[4096];
  // Distinct stems: niftilib prefers x.nii over x.nii.gz when both exist.
  snprintf(path, sizeof path, "%s/%s_%s_%lld_%s%s", dir, o->name,
           segc_dtype_name(dtype), (long long)dim[0], ext[4] ? "gz" : "plain", ext);
  segc_volume v, back;
  if (segc_volume_alloc(&v, dtype, dim) != SEGC_OK) {
    CHECK(false, "alloc: %s", segc_error_message());
    return;
  }
  memcpy(v.affine, o->affine, sizeof v.affine);
  fill_random(&v, (uint64_t)dtype * 7 + (uint64_t)dim[0]);
  segc_status status = segc_nifti_write(path, &v, NULL);
  CHECK(status == SEGC_OK, "write %s: %s", path, segc_error_message());
  segc_nifti_info info;
  status = status == SEGC_OK ? segc_nifti_read(path, &back, &info) : status;
  CHECK(status == SEGC_OK, "read %s: %s", path, segc_error_message());
  if (status != SEGC_OK) {
    segc_volume_free(&v);
    return;
  }
  CHECK(back.dtype == dtype && back.dim[0] == dim[0] && back.dim[1] == dim[1] &&
        back.dim[2] == dim[2], "%s: dtype %s dims %lld %lld %lld", path,
        segc_dtype_name(back.dtype), (long long)back.dim[0],
        (long long)back.dim[1], (long long)back.dim[2]);
  if (back.dtype == dtype)
    CHECK(memcmp(v.data, back.data, (size_t)segc_volume_numel(&v) *
                 segc_dtype_size(dtype)) == 0, "%s: voxels differ", path);
  // The sform is stored as float32 and read back exactly.
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      CHECK(back.affine[r][c] == (double)(float)o->affine[r][c],
            "%s: affine[%d][%d] %.9g vs %.9g", path, r, c, back.affine[r][c],
            o->affine[r][c]);
  CHECK(info.nifti_version == 1 && info.sform_code == 2 && info.qform_code == 1 &&
        info.xyzt_units == NIFTI_UNITS_MM && info.scl_slope == 1.0 &&
        info.scl_inter == 0.0, "%s: info fields", path);
  check_with_niftilib(path, &v, o->affine, orthogonal, 1, 2);
  // The file kind the name asks for.
  FILE *f = fopen(path, "rb");
  unsigned char magic[2] = {0, 0};
  CHECK(f && fread(magic, 1, 2, f) == 2, "%s: cannot reopen", path);
  if (f) fclose(f);
  const bool gz = magic[0] == 0x1f && magic[1] == 0x8b;
  CHECK(gz == (strcmp(ext, ".nii") != 0), "%s: gzip %d", path, gz);
  segc_volume_free(&back);
  segc_volume_free(&v);
}

static int count_leftovers(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += strstr(e->d_name, ".tmp") != NULL;
  if (d) closedir(d);
  return n;
}

// Header of a plain .nii, read or rewritten in place.
static bool header_io(const char *path, nifti_1_header *h, bool write) {
  FILE *f = fopen(path, write ? "r+b" : "rb");
  if (!f) return false;
  const bool ok = write ? fwrite(h, sizeof *h, 1, f) == 1 : fread(h, sizeof *h, 1, f) == 1;
  return fclose(f) == 0 && ok;
}

static bool same_placement(const nifti_1_header *a, const nifti_1_header *b) {
  return a->qform_code == b->qform_code && a->sform_code == b->sform_code &&
         a->quatern_b == b->quatern_b && a->quatern_c == b->quatern_c &&
         a->quatern_d == b->quatern_d && a->qoffset_x == b->qoffset_x &&
         a->qoffset_y == b->qoffset_y && a->qoffset_z == b->qoffset_z &&
         memcmp(a->pixdim, b->pixdim, 4 * sizeof a->pixdim[0]) == 0 &&
         memcmp(a->srow_x, b->srow_x, sizeof a->srow_x) == 0 &&
         memcmp(a->srow_y, b->srow_y, sizeof a->srow_y) == 0 &&
         memcmp(a->srow_z, b->srow_z, sizeof a->srow_z) == 0;
}

// A volume written with the info of the file it was read from, on the same
// grid, keeps that file's qform and sform as they were (a qform unlike the
// sform, or only one of them set); on another grid the affine is written.
static void check_like_from_read(const char *dir) {
  const int64_t dim[3] = {6, 5, 4};
  segc_volume v;
  if (segc_volume_alloc(&v, SEGC_I16, dim) != SEGC_OK) return;
  fill_random(&v, 7);
  for (int a = 0; a < 3; ++a) v.affine[a][a] = 2.0;
  v.affine[0][3] = -7.5;
  char source[4096], copy[4096];
  snprintf(source, sizeof source, "%s/placed.nii", dir);
  snprintf(copy, sizeof copy, "%s/placed_copy.nii", dir);
  CHECK(segc_nifti_write(source, &v, NULL) == SEGC_OK, "%s", segc_error_message());
  segc_volume_free(&v);
  const int codes[3][2] = {{1, 2}, {1, 0}, {0, 4}};  // qform, sform
  for (int t = 0; t < 3; ++t) {
    nifti_1_header h, back;
    CHECK(header_io(source, &h, false), "read %s", source);
    h.qform_code = (short)codes[t][0];
    h.sform_code = (short)codes[t][1];
    h.quatern_b = 0.1f;
    h.quatern_c = -0.2f;
    h.quatern_d = 0.3f;
    h.qoffset_x = 41.5f;
    h.pixdim[0] = -1.0f;
    CHECK(header_io(source, &h, true), "rewrite %s", source);
    segc_nifti_info info;
    if (segc_nifti_read(source, &v, &info) != SEGC_OK) {
      CHECK(false, "%s", segc_error_message());
      return;
    }
    CHECK(segc_nifti_write(copy, &v, &info) == SEGC_OK, "%s", segc_error_message());
    CHECK(header_io(copy, &back, false) && same_placement(&h, &back),
          "codes q%d s%d: written q%d s%d, quatern %g %g %g (input %g %g %g)",
          codes[t][0], codes[t][1], back.qform_code, back.sform_code,
          back.quatern_b, back.quatern_c, back.quatern_d, h.quatern_b,
          h.quatern_c, h.quatern_d);
    // Moved: the new affine is what is written, qform and sform alike.
    v.affine[1][3] += 3.0;
    CHECK(segc_nifti_write(copy, &v, &info) == SEGC_OK, "%s", segc_error_message());
    check_with_niftilib(copy, &v, v.affine, true, codes[t][0] ? codes[t][0] : 1,
                        codes[t][1] ? codes[t][1] : 2);
    segc_volume_free(&v);
  }
}

static void check_writer_errors(const char *dir) {
  const int64_t dim[3] = {4, 5, 6};
  segc_volume v;
  if (segc_volume_alloc(&v, SEGC_F32, dim) != SEGC_OK) return;
  char path[4096];
  snprintf(path, sizeof path, "%s/no/such/folder/x.nii.gz", dir);
  CHECK_FAILS(segc_nifti_write(path, &v, NULL), SEGC_ERR_IO, "cannot create");
  snprintf(path, sizeof path, "%s/bad.nii.gz", dir);
  ((float *)v.data)[7] = NAN;
  ((float *)v.data)[9] = INFINITY;
  CHECK_FAILS(segc_nifti_write(path, &v, NULL), SEGC_ERR_NONFINITE, "2 NaN or Inf");
  ((float *)v.data)[7] = ((float *)v.data)[9] = 0.0f;
  v.affine[0][1] = 1.0;  // column 1 equals column 0: singular
  v.affine[1][1] = 0.0;
  CHECK_FAILS(segc_nifti_write(path, &v, NULL), SEGC_ERR_INVALID, "linearly dependent");
  v.affine[1][1] = 1.0;
  v.affine[0][1] = 0.0;
  v.affine[2][3] = NAN;
  CHECK_FAILS(segc_nifti_write(path, &v, NULL), SEGC_ERR_INVALID, "translation");
  v.affine[2][3] = 1e39;  // beyond float32, where NIfTI-1 keeps the sform
  CHECK_FAILS(segc_nifti_write(path, &v, NULL), SEGC_ERR_INVALID, "float32");
  v.affine[2][3] = 0.0;
  v.dtype = SEGC_BF16;
  CHECK_FAILS(segc_nifti_write(path, &v, NULL), SEGC_ERR_UNSUPPORTED, "bf16");
  v.dtype = SEGC_F32;
  // A folder where the file should go: the rename fails, the temp goes.
  snprintf(path, sizeof path, "%s/a_folder.nii.gz", dir);
  CHECK(mkdir(path, 0755) == 0, "mkdir %s", path);
  CHECK_FAILS(segc_nifti_write(path, &v, NULL), SEGC_ERR_IO, "rename");
  CHECK(count_leftovers(dir) == 0, "temporary files left in %s", dir);
  segc_volume_free(&v);
}

// Codes from `like`, and the same bytes whatever the thread count.
static void check_like_and_threads(const char *dir) {
  const int64_t dim[3] = {70, 65, 67};  // crosses the 64-voxel tiles
  segc_volume v;
  if (segc_volume_alloc(&v, SEGC_I16, dim) != SEGC_OK) return;
  fill_random(&v, 99);
  v.affine[0][0] = -1.5;
  char path[4096];
  snprintf(path, sizeof path, "%s/like.nii", dir);
  const segc_nifti_info like = {.sform_code = 4, .qform_code = 3};
  CHECK(segc_nifti_write(path, &v, &like) == SEGC_OK, "%s", segc_error_message());
  check_with_niftilib(path, &v, v.affine, true, 3, 4);
  char one[4096], two[4096];
  snprintf(one, sizeof one, "%s/threads1.nii.gz", dir);
  snprintf(two, sizeof two, "%s/threads2.nii.gz", dir);
  const int threads = segc_threads();
  segc_set_threads(1);
  CHECK(segc_nifti_write(one, &v, NULL) == SEGC_OK, "%s", segc_error_message());
  segc_set_threads(2);
  CHECK(segc_nifti_write(two, &v, NULL) == SEGC_OK, "%s", segc_error_message());
  segc_set_threads(threads);
  FILE *a = fopen(one, "rb"), *b = fopen(two, "rb");
  bool same = a && b;
  for (int ca = 0, cb = 0; same && ca != EOF; ) {
    ca = fgetc(a);
    cb = fgetc(b);
    same = ca == cb;
  }
  CHECK(same, "files written with 1 and 2 threads differ");
  if (a) fclose(a);
  if (b) fclose(b);
  segc_volume_free(&v);
}

// A dimension above NIfTI-1's 32767 makes a NIfTI-2 file (double precision
// sform, vox_offset 544).
static void check_nifti2_write(const char *dir) {
  const int64_t dim[3] = {40000, 2, 3};
  segc_volume v, back;
  if (segc_volume_alloc(&v, SEGC_U8, dim) != SEGC_OK) return;
  fill_random(&v, 5);
  v.affine[0][3] = 0.1;  // not a float32: kept exactly in NIfTI-2
  char path[4096];
  snprintf(path, sizeof path, "%s/wide.nii.gz", dir);
  CHECK(segc_nifti_write(path, &v, NULL) == SEGC_OK, "%s", segc_error_message());
  segc_nifti_info info;
  if (segc_nifti_read(path, &back, &info) == SEGC_OK) {
    CHECK(info.nifti_version == 2 && back.affine[0][3] == 0.1 &&
          memcmp(back.data, v.data, (size_t)segc_volume_numel(&v)) == 0,
          "NIfTI-2 round trip: version %d", info.nifti_version);
    segc_volume_free(&back);
  } else {
    CHECK(false, "%s", segc_error_message());
  }
  int version = 0;
  void *raw = nifti_read_header(path, &version, 1);
  nifti_image *nim = nifti_image_read(path, 0);
  CHECK(version == 2 && nim && nim->nx == 40000 && nim->iname_offset == 544,
        "niftilib reads %s as NIfTI-%d", path, version);
  free(raw);
  if (nim) nifti_image_free(nim);
  segc_volume_free(&v);
}

// The parallel gzip writer on its own: streams of awkward lengths (empty,
// around the 32 KiB window, the 1 MiB block and the 32 MiB batch) must
// inflate (zlib, which checks CRC and length) to exactly the input.
static void check_gzip_sink(const char *dir) {
  const size_t sizes[] = {0, 1, 32767, 32769, (1u << 20) + 1, (32u << 20) + 5};
  const size_t largest = (32u << 20) + 5;
  uint8_t *input = malloc(largest), *back = malloc(largest + 1);
  // Runs of a repeating pattern (matches that cross block cuts) mixed with
  // counter-hashed noise.
  for (size_t i = 0; i < largest; ++i)
    input[i] = (i / 4096) % 3 ? (uint8_t)(i % 251) : (uint8_t)((i * 2654435761u) >> 13);
  for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; ++c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/sink_%zu.gz", dir, sizes[c]);
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    segc_nifti_sink *sink = NULL;
    bool ok = fd >= 0 && segc_nifti_sink_open(fd, true, path, &sink) == SEGC_OK;
    // Two writes, to cross a batch boundary mid-call.
    ok = ok && segc_nifti_sink_write(sink, input, sizes[c] / 3) == SEGC_OK &&
         segc_nifti_sink_write(sink, input + sizes[c] / 3, sizes[c] - sizes[c] / 3) == SEGC_OK;
    ok = ok && segc_nifti_sink_finish(sink) == SEGC_OK;
    CHECK(ok, "sink %zu: %s", sizes[c], segc_error_message());
    gzFile gz = gzopen(path, "rb");
    const int got = gz ? gzread(gz, back, (unsigned)largest + 1) : -1;
    int zerr = Z_OK;
    if (gz) gzerror(gz, &zerr);
    CHECK(got == (int)sizes[c] && zerr == Z_OK && memcmp(back, input, sizes[c]) == 0,
          "sink %zu: inflated %d bytes (zlib status %d)", sizes[c], got, zerr);
    if (gz) gzclose(gz);
  }
  free(input);
  free(back);
}

int main(void) {
  nifti_set_debug_level(0);
  const char *dir = test_temp_dir("nifti_roundtrip");
  orientation cases[6] = {
      {"LPS", {{-0.8, 0, 0, 120.5}, {0, -0.8, 0, 95.25}, {0, 0, 2.5, -300.125}, {0, 0, 0, 1}}},
      {"LAS", {{-0.9765625, 0, 0, 249.51171875}, {0, 0.9765625, 0, -61.51171875},
               {0, 0, 2.0, -804.5}, {0, 0, 0, 1}}},
      // i -> posterior, j -> inferior, k -> right.
      {"PIR", {{0, 0, 3.0, -40.0}, {-1.2, 0, 0, 60.0}, {0, -0.7, 0, 25.0}, {0, 0, 0, 1}}},
  };
  cases[3] = oblique("oblique", 25.0, false, 0.0);
  cases[4] = oblique("oblique_flipped", 160.0, true, 0.0);
  cases[5] = oblique("sheared", 40.0, false, 0.3);
  const segc_dtype dtypes[4] = {SEGC_U8, SEGC_I16, SEGC_I32, SEGC_F32};
  const int64_t small[3] = {7, 9, 11}, tiled[3] = {70, 65, 67};
  for (int o = 0; o < 6; ++o)
    for (int t = 0; t < 4; ++t) {
      const bool orthogonal = o != 5;
      round_trip(dir, &cases[o], dtypes[t], small, ".nii", orthogonal);
      round_trip(dir, &cases[o], dtypes[t], small, ".nii.gz", orthogonal);
    }
  for (int t = 0; t < 4; ++t) round_trip(dir, &cases[3], dtypes[t], tiled, ".nii.gz", true);
  // Several 8 MiB slabs in the writer (64 slices each, then 32).
  const int64_t slabs[3] = {256, 256, 160};
  round_trip(dir, &cases[2], SEGC_I16, slabs, ".nii.gz", true);
  check_like_and_threads(dir);
  check_like_from_read(dir);
  check_gzip_sink(dir);
  check_nifti2_write(dir);
  check_writer_errors(dir);
  return test_finish("nifti_roundtrip");
}
