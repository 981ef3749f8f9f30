// Resampling to a new grid (segprep resample): the target grid of --shape
// and --spacing, a constant image staying constant, a linear function of
// world position reproduced (the corner convention), nearest-neighbour
// labels keeping their values, and bad requests.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/regrid.h"
#include "util/test_util.h"

// dims (7, 9, 11); x flipped, spacing (2, 3, 1.5), origin (5, -7, 11).
static segc_status make_input(segc_dtype dtype, segc_volume *v) {
  const int64_t dim[3] = {7, 9, 11};
  SEGC_TRY(segc_volume_alloc(v, dtype, dim));
  v->affine[0][0] = -2.0;
  v->affine[1][1] = 3.0;
  v->affine[2][2] = 1.5;
  v->affine[0][3] = 5.0;
  v->affine[1][3] = -7.0;
  v->affine[2][3] = 11.0;
  return SEGC_OK;
}

static void world_of(const double affine[4][4], double i, double j, double k,
                     double out[3]) {
  for (int r = 0; r < 3; ++r)
    out[r] = affine[r][0] * i + affine[r][1] * j + affine[r][2] * k +
             affine[r][3];
}

static int test_shape_grid(void) {
  segc_volume in;
  CHECK_OK(make_input(SEGC_F32, &in));
  segc_regrid_request request = {.have_shape = true, .shape = {13, 5, 21}};
  double affine[4][4];
  int64_t dim[3];
  CHECK_OK(segc_regrid_target(&in, &request, affine, dim));
  CHECK(dim[0] == 13 && dim[1] == 5 && dim[2] == 21, "dims");
  // Same extent between voxel centres: (n - 1) * s / (m - 1).
  const double expected_diagonal[3] = {-6 * 2.0 / 12, 8 * 3.0 / 4, 10 * 1.5 / 20};
  for (int a = 0; a < 3; ++a)
    CHECK(fabs(affine[a][a] - expected_diagonal[a]) < 1e-12,
          "axis %d spacing %g, expected %g", a, affine[a][a],
          expected_diagonal[a]);
  double first_in[3], first_out[3], last_in[3], last_out[3];
  world_of(in.affine, 0, 0, 0, first_in);
  world_of(affine, 0, 0, 0, first_out);
  world_of(in.affine, 6, 8, 10, last_in);
  world_of(affine, 12, 4, 20, last_out);
  for (int r = 0; r < 3; ++r)
    CHECK(fabs(first_in[r] - first_out[r]) < 1e-9 &&
              fabs(last_in[r] - last_out[r]) < 1e-9,
          "corner voxels keep their world position (axis %d)", r);

  // Shape and spacing: that grid from the same corner.
  request.have_spacing = true;
  request.spacing[0] = 0.5;
  request.spacing[1] = 4.0;
  request.spacing[2] = 2.0;
  CHECK_OK(segc_regrid_target(&in, &request, affine, dim));
  CHECK(affine[0][0] == -0.5 && affine[1][1] == 4.0 && affine[2][2] == 2.0 &&
            affine[0][3] == 5.0 && affine[1][3] == -7.0 && affine[2][3] == 11.0,
        "explicit spacing keeps direction and corner");

  // Spacing only: MONAI's Spacing shape, round(extent / spacing + 1).
  segc_regrid_request spacing_only = {.have_spacing = true,
                                      .spacing = {0.7, 2.2, 1.3}};
  CHECK_OK(segc_regrid_target(&in, &spacing_only, affine, dim));
  const double extent[3] = {12.0, 24.0, 15.0};
  for (int a = 0; a < 3; ++a) {
    const int64_t expected = (int64_t)floor(extent[a] / spacing_only.spacing[a] + 1 + 0.5);
    CHECK(dim[a] == expected, "axis %d: %lld voxels, expected %lld", a,
          (long long)dim[a], (long long)expected);
    CHECK(fabs(fabs(affine[a][a]) - spacing_only.spacing[a]) < 1e-9,
          "axis %d spacing", a);
  }
  segc_volume_free(&in);
  return 0;
}

static int test_values(void) {
  // Constant image: trilinear weights sum to 1, so it stays constant (to
  // float32 rounding of the weighted sum, 1e-4 relative).
  segc_volume in, out;
  CHECK_OK(make_input(SEGC_F32, &in));
  const int64_t n = segc_volume_numel(&in);
  for (int64_t v = 0; v < n; ++v) ((float *)in.data)[v] = 123.25f;
  segc_regrid_request request = {.have_shape = true, .shape = {13, 5, 21}};
  CHECK_OK(segc_regrid(&in, &request, &out));
  double worst = 0;
  for (int64_t v = 0; v < segc_volume_numel(&out); ++v)
    worst = fmax(worst, fabs(((float *)out.data)[v] - 123.25));
  CHECK(out.dtype == SEGC_F32 && worst < 123.25 * 1e-4,
        "constant image off by %g", worst);
  segc_volume_free(&out);

  // f(world) linear: trilinear interpolation reproduces it at every output
  // voxel inside the input's extent, which the same-extent grid guarantees.
  // This pins the voxel-centre convention. Tolerance: float32 values of
  // magnitude ~100, 1e-3 absolute.
  for (int64_t i = 0; i < 7; ++i)
    for (int64_t j = 0; j < 9; ++j)
      for (int64_t k = 0; k < 11; ++k) {
        double w[3];
        world_of(in.affine, (double)i, (double)j, (double)k, w);
        ((float *)in.data)[segc_volume_offset(&in, i, j, k)] =
            (float)(0.5 * w[0] - 1.25 * w[1] + 2.0 * w[2] + 3.0);
      }
  CHECK_OK(segc_regrid(&in, &request, &out));
  worst = 0;
  for (int64_t i = 0; i < out.dim[0]; ++i)
    for (int64_t j = 0; j < out.dim[1]; ++j)
      for (int64_t k = 0; k < out.dim[2]; ++k) {
        double w[3];
        world_of(out.affine, (double)i, (double)j, (double)k, w);
        const double expected = 0.5 * w[0] - 1.25 * w[1] + 2.0 * w[2] + 3.0;
        worst = fmax(worst, fabs(((float *)out.data)[segc_volume_offset(&out, i, j, k)] -
                                 expected));
      }
  CHECK(worst < 1e-3, "linear function off by %g", worst);
  segc_volume_free(&out);
  segc_volume_free(&in);

  // Nearest-neighbour labels only take values the input has.
  segc_volume label;
  CHECK_OK(make_input(SEGC_U8, &label));
  float *r = malloc(sizeof(float) * (size_t)n);
  if (!r) return 1;
  test_fill_uniform(r, n, 0.0f, 4.0f, 11);
  static const uint8_t values[4] = {0, 3, 7, 200};
  for (int64_t v = 0; v < n; ++v) ((uint8_t *)label.data)[v] = values[(int)r[v]];
  free(r);
  segc_regrid_request nearest = {.have_shape = true,
                                 .shape = {15, 17, 6},
                                 .mode = SEGC_INTERP_NEAREST};
  CHECK_OK(segc_regrid(&label, &nearest, &out));
  bool seen[256] = {false};
  int64_t foreign = 0;
  for (int64_t v = 0; v < segc_volume_numel(&out); ++v) {
    const uint8_t x = ((uint8_t *)out.data)[v];
    seen[x] = true;
    foreign += x != 0 && x != 3 && x != 7 && x != 200;
  }
  CHECK(out.dtype == SEGC_U8 && foreign == 0, "%lld voxels with new labels",
        (long long)foreign);
  CHECK(seen[0] && seen[3] && seen[7] && seen[200], "all labels survive");
  CHECK(out.dim[0] == 15 && out.dim[1] == 17 && out.dim[2] == 6, "label dims");
  segc_volume_free(&out);
  segc_volume_free(&label);
  return 0;
}

static int test_errors(void) {
  segc_volume in, out;
  CHECK_OK(make_input(SEGC_F32, &in));
  segc_regrid_request none = {0};
  CHECK_FAILS(segc_regrid(&in, &none, &out), SEGC_ERR_INVALID, "spacing");
  segc_regrid_request zero = {.have_shape = true, .shape = {4, 0, 4}};
  CHECK_FAILS(segc_regrid(&in, &zero, &out), SEGC_ERR_INVALID, "axis 1");
  segc_regrid_request negative = {.have_spacing = true, .spacing = {1, -1, 1}};
  CHECK_FAILS(segc_regrid(&in, &negative, &out), SEGC_ERR_INVALID, "spacing -1");
  segc_volume_free(&in);
  const int64_t flat[3] = {5, 1, 5};
  CHECK_OK(segc_volume_alloc(&in, SEGC_F32, flat));
  segc_regrid_request stretch = {.have_shape = true, .shape = {5, 3, 5}};
  CHECK_FAILS(segc_regrid(&in, &stretch, &out), SEGC_ERR_INVALID, "one voxel");
  segc_volume_free(&in);
  return 0;
}

int main(void) {
  // A CHECK_OK failure returns 1 from its function without counting it.
  int stopped = 0;
  stopped |= test_shape_grid();
  stopped |= test_values();
  stopped |= test_errors();
  return test_finish("regrid") | stopped;
}
