// Orientation, Spacing and their inverses on small synthetic volumes, against
// naive references written here: world positions through the affines
// (inverted by Gauss-Jordan below), a linear function that trilinear
// interpolation must reproduce, nearest neighbours by brute force.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "data/orientation.h"
#include "data/spacing.h"
#include "data/transforms.h"
#include "util/test_util.h"

// Inverse of a 4x4 affine by Gauss-Jordan with partial pivoting.
static void invert4(const double m[4][4], double inv[4][4]) {
  double a[4][8];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j) a[i][j] = j < 4 ? m[i][j] : (j - 4 == i);
  for (int c = 0; c < 4; ++c) {
    int p = c;
    for (int r = c + 1; r < 4; ++r)
      if (fabs(a[r][c]) > fabs(a[p][c])) p = r;
    for (int j = 0; j < 8; ++j) {
      double t = a[c][j];
      a[c][j] = a[p][j];
      a[p][j] = t;
    }
    const double d = a[c][c];
    for (int j = 0; j < 8; ++j) a[c][j] /= d;
    for (int r = 0; r < 4; ++r)
      if (r != c) {
        const double f = a[r][c];
        for (int j = 0; j < 8; ++j) a[r][j] -= f * a[c][j];
      }
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) inv[i][j] = a[i][j + 4];
}

static void apply4(const double m[4][4], const double p[3], double out[3]) {
  for (int r = 0; r < 3; ++r)
    out[r] = m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3];
}

// Input voxel position (continuous) of output voxel (i, j, k).
static void source_of(const segc_volume *in, const segc_volume *out, int64_t i,
                      int64_t j, int64_t k, double src[3]) {
  double inv[4][4], world[3];
  const double o[3] = {(double)i, (double)j, (double)k};
  invert4(in->affine, inv);
  apply4(out->affine, o, world);
  apply4(inv, world, src);
}

static void diagonal_affine(double a[4][4], const double spacing[3],
                            const double origin[3]) {
  memset(a, 0, sizeof(double) * 16);
  for (int r = 0; r < 3; ++r) {
    a[r][r] = spacing[r];
    a[r][3] = origin[r];
  }
  a[3][3] = 1.0;
}

// Every voxel of `out` must hold the input voxel at the same world position.
static int check_same_world_values(const segc_volume *in, const segc_volume *out,
                                   const char *what) {
  int bad = 0;
  for (int64_t i = 0; i < out->dim[0]; ++i)
    for (int64_t j = 0; j < out->dim[1]; ++j)
      for (int64_t k = 0; k < out->dim[2]; ++k) {
        double src[3];
        source_of(in, out, i, j, k, src);
        int64_t s[3];
        for (int a = 0; a < 3; ++a) {
          s[a] = llround(src[a]);
          if (fabs(src[a] - (double)s[a]) > 1e-6 || s[a] < 0 || s[a] >= in->dim[a])
            ++bad;
        }
        if (bad) continue;
        const int32_t *iv = in->data, *ov = out->data;
        if (ov[segc_volume_offset(out, i, j, k)] !=
            iv[segc_volume_offset(in, s[0], s[1], s[2])])
          ++bad;
      }
  CHECK(bad == 0, "%s: %d voxels not at their world position", what, bad);
  return bad;
}

static int test_orientation_all_codes(void) {
  const int64_t dim[3] = {4, 5, 6};
  const char letters[3][2] = {{'L', 'R'}, {'P', 'A'}, {'I', 'S'}};
  const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                           {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  // Two inputs: a plain RAS grid and an oblique one (10 degrees about z)
  // whose closest orientation is still RAS.
  for (int oblique = 0; oblique < 2; ++oblique) {
    segc_volume in;
    CHECK_OK(segc_volume_alloc(&in, SEGC_I32, dim));
    for (int64_t n = 0; n < segc_volume_numel(&in); ++n) ((int32_t *)in.data)[n] = (int32_t)n;
    const double spacing[3] = {1.5, 2.0, 3.0}, origin[3] = {-10.25, 4.5, 100.0};
    diagonal_affine(in.affine, spacing, origin);
    if (oblique) {
      const double c = cos(10 * M_PI / 180), s = sin(10 * M_PI / 180);
      in.affine[0][0] = 1.5 * c;
      in.affine[1][0] = 1.5 * s;
      in.affine[0][1] = -2.0 * s;
      in.affine[1][1] = 2.0 * c;
    }
    char codes[4];
    CHECK_OK(segc_affine_axcodes(in.affine, codes));
    CHECK(!strcmp(codes, "RAS"), "input axcodes %s", codes);
    for (int p = 0; p < 6; ++p)
      for (int signs = 0; signs < 8; ++signs) {
        char target[4] = {0};
        for (int a = 0; a < 3; ++a)
          target[a] = letters[perms[p][a]][(signs >> a) & 1];
        segc_volume out, back;
        segc_orientation_record record;
        CHECK_OK(segc_orient(&in, target, &out, &record));
        CHECK_OK(segc_affine_axcodes(out.affine, codes));
        CHECK(!strcmp(codes, target), "%s: result has axcodes %s", target, codes);
        check_same_world_values(&in, &out, target);
        CHECK_OK(segc_orient_inverse(&out, &record, &back));
        CHECK(!memcmp(back.dim, in.dim, sizeof in.dim), "%s inverse dims", target);
        CHECK(!memcmp(back.data, in.data, sizeof(int32_t) * (size_t)segc_volume_numel(&in)),
              "%s inverse voxels", target);
        double worst = 0.0;
        for (int r = 0; r < 4; ++r)
          for (int c = 0; c < 4; ++c)
            worst = fmax(worst, fabs(back.affine[r][c] - in.affine[r][c]));
        CHECK(worst < 1e-12, "%s inverse affine off by %g", target, worst);
        segc_volume_free(&out);
        segc_volume_free(&back);
      }
    segc_volume_free(&in);
  }
  return 0;
}

static int test_orientation_errors(void) {
  const int64_t dim[3] = {2, 2, 2};
  segc_volume in, out;
  CHECK_OK(segc_volume_alloc(&in, SEGC_U8, dim));
  CHECK_FAILS(segc_orient(&in, "RAX", &out, NULL), SEGC_ERR_INVALID, "'X'");
  CHECK_FAILS(segc_orient(&in, "RRS", &out, NULL), SEGC_ERR_INVALID, "twice");
  CHECK_FAILS(segc_orient(&in, "RA", &out, NULL), SEGC_ERR_INVALID, "3 letters");
  in.affine[2][2] = 0.0;
  in.affine[2][1] = 0.0;
  in.affine[1][1] = 0.0;
  CHECK_FAILS(segc_orient(&in, "RAS", &out, NULL), SEGC_ERR_INVALID, "singular");
  char lower[4];
  in.affine[1][1] = in.affine[2][2] = 1.0;
  CHECK_OK(segc_orient(&in, "las", &out, NULL));
  CHECK_OK(segc_affine_axcodes(out.affine, lower));
  CHECK(!strcmp(lower, "LAS"), "lower case codes give %s", lower);
  segc_volume_free(&out);
  segc_volume_free(&in);
  return 0;
}

// Output shape and affine: round_half_even((n - 1) * old / new + 1), the
// first corner keeps its world position, columns of length pixdim.
static int test_spacing_grid(void) {
  const struct {
    int64_t n[3];
    double spacing[3], pixdim[3];
  } cases[] = {
      {{122, 101, 112}, {3.0, 3.0, 3.0}, {1.5, 1.5, 1.5}},
      {{512, 512, 20}, {0.9765625, 0.9765625, 2.0}, {1.5, 1.5, 1.5}},
      {{512, 512, 400}, {0.8, 0.8, 1.5}, {1.5, 1.5, 1.5}},
      {{7, 9, 11}, {1.0, 2.0, 3.0}, {2.0, 0.5, -1.0}},     // -1: keep 3.0
      {{10, 10, 10}, {1.0005, 2.0, 1.0}, {1.0, 1.0, 1.0}},  // within 1e-3: kept
      {{4, 6, 5}, {2.0, 1.0, 1.0}, {1.6, 1.0, 1.0}},        // 6 / 1.6 + 1 = 4.75
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    double affine[4][4], out_affine[4][4];
    const double origin[3] = {-177.956, 11.319, 94.302};
    diagonal_affine(affine, cases[c].spacing, origin);
    int64_t out_dim[3];
    CHECK_OK(segc_spacing_grid(affine, cases[c].n, cases[c].pixdim, out_affine,
                               out_dim));
    for (int a = 0; a < 3; ++a) {
      double target = cases[c].pixdim[a];
      if (target <= 0 || fabs(target - cases[c].spacing[a]) <= 1e-3)
        target = cases[c].spacing[a];
      const double extent = (double)(cases[c].n[a] - 1) * cases[c].spacing[a];
      const int64_t expect = (int64_t)nearbyint(extent / target + 1.0);
      CHECK(out_dim[a] == expect, "case %zu axis %d: %lld voxels, expected %lld",
            c, a, (long long)out_dim[a], (long long)expect);
      CHECK(fabs(out_affine[a][a] - target) < 1e-12, "case %zu axis %d spacing %g",
            c, a, out_affine[a][a]);
      CHECK(out_affine[a][3] == origin[a], "case %zu origin moved", c);
    }
  }
  double bad[4][4];
  diagonal_affine(bad, (double[3]){1, 1, 1}, (double[3]){0, 0, 0});
  int64_t out_dim[3];
  double out_affine[4][4];
  CHECK_FAILS(segc_spacing_grid(bad, (int64_t[3]){4, 0, 4}, (double[3]){1, 1, 1},
                                out_affine, out_dim),
              SEGC_ERR_INVALID, "axis 1");
  CHECK_FAILS(segc_spacing_grid(bad, (int64_t[3]){4, 4, 4},
                                (double[3]){1, NAN, 1}, out_affine, out_dim),
              SEGC_ERR_INVALID, "pixdim[1]");
  return 0;
}

// A linear function of the world position, which trilinear interpolation
// reproduces exactly wherever the source position is inside the input.
static double linear_world(const double w[3]) {
  return 0.75 * w[0] - 0.5 * w[1] + 0.25 * w[2] + 7.0;
}

static int check_linear(const segc_volume *in, const segc_volume *out,
                        const char *what) {
  double worst = 0.0;
  int64_t inside = 0;
  for (int64_t i = 0; i < out->dim[0]; ++i)
    for (int64_t j = 0; j < out->dim[1]; ++j)
      for (int64_t k = 0; k < out->dim[2]; ++k) {
        double src[3], world[3];
        source_of(in, out, i, j, k, src);
        bool ok = true;
        for (int a = 0; a < 3; ++a)
          ok = ok && src[a] >= 0.0 && src[a] <= (double)(in->dim[a] - 1);
        if (!ok) continue;
        ++inside;
        apply4(out->affine, (double[3]){(double)i, (double)j, (double)k}, world);
        const float got = ((const float *)out->data)[segc_volume_offset(out, i, j, k)];
        worst = fmax(worst, fabs((double)got - linear_world(world)));
      }
  // float32 output of values up to ~60: a few ulp (4e-6 each).
  CHECK(inside > 0 && worst < 2e-5, "%s: %lld inside voxels, max error %g", what,
        (long long)inside, worst);
  return 0;
}

static segc_status make_linear_volume(const int64_t dim[3], const double affine[4][4],
                                      segc_volume *v) {
  SEGC_TRY(segc_volume_alloc(v, SEGC_F32, dim));
  memcpy(v->affine, affine, sizeof v->affine);
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k) {
        double w[3];
        apply4(affine, (double[3]){(double)i, (double)j, (double)k}, w);
        ((float *)v->data)[segc_volume_offset(v, i, j, k)] = (float)linear_world(w);
      }
  return SEGC_OK;
}

static int test_spacing_linear(void) {
  const int64_t dim[3] = {13, 17, 11};
  double affine[4][4];
  diagonal_affine(affine, (double[3]){3.0, 1.25, 2.0}, (double[3]){-20.0, 3.5, 7.25});
  segc_volume in, out;
  CHECK_OK(make_linear_volume(dim, affine, &in));
  CHECK_OK(segc_spacing(&in, (double[3]){1.5, 2.0, 0.7}, SEGC_INTERP_BILINEAR, &out,
                        NULL));
  check_linear(&in, &out, "separable");
  segc_volume_free(&out);
  // An oblique destination goes through the general per-voxel path.
  double dst[4][4];
  const double c = cos(0.3), s = sin(0.3);
  diagonal_affine(dst, (double[3]){1.7, 1.7, 1.7}, (double[3]){-15.0, 6.0, 9.0});
  dst[0][0] = 1.7 * c;
  dst[1][0] = 1.7 * s;
  dst[0][1] = -1.7 * s;
  dst[1][1] = 1.7 * c;
  bool resampled = false;
  CHECK_OK(segc_resample_to_grid(&in, dst, (int64_t[3]){12, 11, 10},
                                 SEGC_INTERP_BILINEAR, &out, &resampled));
  CHECK(resampled, "oblique grid resampled");
  check_linear(&in, &out, "general");
  // Same grid: MONAI's shortcut copies the voxels.
  segc_volume same;
  CHECK_OK(segc_resample_to_grid(&in, in.affine, in.dim, SEGC_INTERP_BILINEAR, &same,
                                 &resampled));
  CHECK(!resampled && !memcmp(same.data, in.data, sizeof(float) * 13 * 17 * 11),
        "unchanged grid is a copy");
  segc_volume_free(&same);
  segc_volume_free(&out);
  segc_volume_free(&in);
  return 0;
}

// Nearest: brute force away from ties; at a tie (source exactly half-way)
// either neighbour is a valid torch result, and which one is decided by the
// last bit of torch's float64 grid (checked against MONAI in
// test_transforms_monai).
static int test_spacing_nearest(void) {
  const int64_t dim[3] = {9, 14, 10};
  segc_volume in, out;
  CHECK_OK(segc_volume_alloc(&in, SEGC_U8, dim));
  for (int64_t n = 0; n < segc_volume_numel(&in); ++n)
    ((uint8_t *)in.data)[n] = (uint8_t)((n * 37) % 251);
  diagonal_affine(in.affine, (double[3]){3.0, 0.8, 2.0}, (double[3]){5, -5, 1});
  CHECK_OK(segc_spacing(&in, (double[3]){1.5, 1.5, 1.3}, SEGC_INTERP_NEAREST, &out,
                        NULL));
  CHECK(out.dtype == SEGC_U8, "nearest keeps the dtype");
  int64_t ties = 0, bad = 0;
  for (int64_t i = 0; i < out.dim[0]; ++i)
    for (int64_t j = 0; j < out.dim[1]; ++j)
      for (int64_t k = 0; k < out.dim[2]; ++k) {
        double src[3];
        source_of(&in, &out, i, j, k, src);
        int64_t lo[3], hi[3];
        bool tie = false;
        for (int a = 0; a < 3; ++a) {
          const double x = fmin(fmax(src[a], 0.0), (double)(dim[a] - 1));
          const double frac = x - floor(x);
          tie = tie || fabs(frac - 0.5) < 1e-9;
          lo[a] = fabs(frac - 0.5) < 1e-9 ? (int64_t)floor(x) : llround(x);
          hi[a] = fabs(frac - 0.5) < 1e-9 ? (int64_t)floor(x) + 1 : lo[a];
        }
        const uint8_t got = ((uint8_t *)out.data)[segc_volume_offset(&out, i, j, k)];
        bool any = false;
        for (int c = 0; c < 8; ++c) {
          const int64_t p = (c & 4 ? hi[0] : lo[0]), q = (c & 2 ? hi[1] : lo[1]),
                        r = (c & 1 ? hi[2] : lo[2]);
          any = any || ((uint8_t *)in.data)[segc_volume_offset(&in, p, q, r)] == got;
        }
        ties += tie;
        bad += !any;
      }
  CHECK(bad == 0, "nearest: %lld voxels are no neighbour", (long long)bad);
  CHECK(ties > 0, "the grid has ties (%lld)", (long long)ties);
  segc_volume_free(&out);
  segc_volume_free(&in);
  return 0;
}

// 3 mm -> 1.5 mm -> 3 mm with nearest: every original voxel centre is a
// sample of the fine grid, so the round trip is exact; likewise through a
// re-orientation (PIR input -> RAS -> back).
static int test_round_trip(void) {
  const int64_t dim[3] = {11, 8, 13};
  segc_volume ras;
  CHECK_OK(segc_volume_alloc(&ras, SEGC_U8, dim));
  for (int64_t n = 0; n < segc_volume_numel(&ras); ++n)
    ((uint8_t *)ras.data)[n] = (uint8_t)(1 + (n * 7919) % 104);
  diagonal_affine(ras.affine, (double[3]){3, 3, 3}, (double[3]){-177.956, 11.319, 94.302});
  const char *codes[] = {"RAS", "PIR", "LPS"};
  for (int c = 0; c < 3; ++c) {
    segc_volume label, oriented, fine, coarse, back;
    CHECK_OK(segc_orient(&ras, codes[c], &label, NULL));
    segc_orientation_record orecord;
    segc_spacing_record srecord;
    CHECK_OK(segc_orient(&label, "RAS", &oriented, &orecord));
    CHECK_OK(segc_spacing(&oriented, (double[3]){1.5, 1.5, 1.5}, SEGC_INTERP_NEAREST,
                          &fine, &srecord));
    CHECK(fine.dim[0] == 21 && fine.dim[1] == 15 && fine.dim[2] == 25,
          "fine grid %lldx%lldx%lld", (long long)fine.dim[0], (long long)fine.dim[1],
          (long long)fine.dim[2]);
    CHECK_OK(segc_spacing_inverse(&fine, &srecord, SEGC_INTERP_NEAREST, &coarse));
    CHECK_OK(segc_orient_inverse(&coarse, &orecord, &back));
    CHECK(!memcmp(back.dim, label.dim, sizeof back.dim), "%s round trip dims", codes[c]);
    CHECK(!memcmp(back.data, label.data, (size_t)segc_volume_numel(&label)),
          "%s round trip voxels", codes[c]);
    double worst = 0.0;
    for (int r = 0; r < 4; ++r)
      for (int q = 0; q < 4; ++q)
        worst = fmax(worst, fabs(back.affine[r][q] - label.affine[r][q]));
    CHECK(worst < 1e-9, "%s round trip affine off by %g mm", codes[c], worst);
    segc_volume_free(&label);
    segc_volume_free(&oriented);
    segc_volume_free(&fine);
    segc_volume_free(&coarse);
    segc_volume_free(&back);
  }
  segc_volume_free(&ras);
  return 0;
}

// The convenience chain equals its steps, and the label inverse lands on the
// input grid.
static int test_inference_chain(void) {
  const int64_t dim[3] = {10, 12, 9};
  segc_volume ct, steps, tmp, net;
  CHECK_OK(segc_volume_alloc(&ct, SEGC_I16, dim));
  for (int64_t n = 0; n < segc_volume_numel(&ct); ++n)
    ((int16_t *)ct.data)[n] = (int16_t)((n * 131) % 2000 - 1000);
  diagonal_affine(ct.affine, (double[3]){-2.0, -2.0, 2.5}, (double[3]){30, 40, -50});
  segc_inference_record record;
  CHECK_OK(segc_preprocess_inference(&ct, (double[3]){1.5, 1.5, 1.5}, &net, &record));
  CHECK_OK(segc_orient(&ct, "RAS", &tmp, NULL));
  CHECK_OK(segc_spacing(&tmp, (double[3]){1.5, 1.5, 1.5}, SEGC_INTERP_BILINEAR, &steps,
                        NULL));
  CHECK_OK(segc_normalize_nonzero(&steps, NULL));
  CHECK_OK(segc_scale_intensity(&steps, -1.0, 1.0, NULL));
  CHECK(!memcmp(net.dim, steps.dim, sizeof net.dim) &&
            !memcmp(net.data, steps.data, sizeof(float) * (size_t)segc_volume_numel(&net)),
        "chain equals its steps");
  segc_volume label, back;
  CHECK_OK(segc_volume_alloc(&label, SEGC_U8, net.dim));
  for (int64_t n = 0; n < segc_volume_numel(&label); ++n)
    ((uint8_t *)label.data)[n] = (uint8_t)(n % 5);
  CHECK_OK(segc_invert_inference_label(&label, &record, &back));
  CHECK(!memcmp(back.dim, ct.dim, sizeof ct.dim) && back.dtype == SEGC_U8,
        "inverse on the input grid");
  double worst = 0.0;
  for (int r = 0; r < 4; ++r)
    for (int q = 0; q < 4; ++q) worst = fmax(worst, fabs(back.affine[r][q] - ct.affine[r][q]));
  CHECK(worst < 1e-9, "inverse affine off by %g", worst);
  label.dim[0] += 1;
  CHECK_FAILS(segc_invert_inference_label(&label, &record, &tmp), SEGC_ERR_INVALID,
              "network grid");
  label.dim[0] -= 1;
  segc_volume_free(&label);
  segc_volume_free(&back);
  segc_volume_free(&ct);
  segc_volume_free(&steps);
  segc_volume_free(&tmp);
  segc_volume_free(&net);
  return 0;
}

// Results must not depend on the thread count: 1 vs 2 threads, bitwise.
static int test_threads(void) {
  const int64_t dim[3] = {23, 19, 31};
  double affine[4][4];
  diagonal_affine(affine, (double[3]){0.8, 0.9, 1.5}, (double[3]){0, 0, 0});
  segc_volume in;
  CHECK_OK(segc_volume_alloc(&in, SEGC_F32, dim));
  memcpy(in.affine, affine, sizeof affine);
  test_fill_uniform(in.data, segc_volume_numel(&in), -1000.0f, 2000.0f, 11);
  double oblique[4][4];
  memcpy(oblique, affine, sizeof affine);
  oblique[0][1] = 0.2;
  segc_volume out[2][2];
  for (int t = 0; t < 2; ++t) {
    omp_set_num_threads(t + 1);
    CHECK_OK(segc_spacing(&in, (double[3]){1.5, 1.5, 1.5}, SEGC_INTERP_BILINEAR,
                          &out[t][0], NULL));
    CHECK_OK(segc_resample_to_grid(&in, oblique, (int64_t[3]){14, 12, 30},
                                   SEGC_INTERP_BILINEAR, &out[t][1], NULL));
  }
  omp_set_num_threads(2);
  for (int p = 0; p < 2; ++p) {
    CHECK(!memcmp(out[0][p].data, out[1][p].data,
                  sizeof(float) * (size_t)segc_volume_numel(&out[0][p])),
          "path %d: 1 and 2 threads differ", p);
    segc_volume_free(&out[0][p]);
    segc_volume_free(&out[1][p]);
  }
  segc_volume_free(&in);
  return 0;
}

int main(void) {
  test_orientation_all_codes();
  test_orientation_errors();
  test_spacing_grid();
  test_spacing_linear();
  test_spacing_nearest();
  test_round_trip();
  test_inference_chain();
  test_threads();
  return test_finish("transforms_spatial");
}
