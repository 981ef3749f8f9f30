// Sliding-window inference against a literal re-statement of MONAI's
// algorithm written here (padded copy, full-size output and count maps,
// window loop in meshgrid order), with an analytic "network" whose output
// depends on the window's content and on the position inside the window, so
// that the blending of overlapping windows matters. The streamed accumulator
// must give the same labels for every cell size and batch size.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "infer/sliding_window.h"
#include "util/test_util.h"

enum { K = 6 };

typedef struct {
  float *logits;  // (B, K, r0, r1, r2) NDHWC
  int calls;
} fake_net;

static float fake_logit(float x, int64_t a, int64_t b, int64_t c, int k) {
  return sinf(0.37f * (float)k + 0.01f * x) +
         0.05f * (float)k * cosf(0.3f * (float)a + 0.2f * (float)b - 0.1f * (float)c);
}

static segc_status fake_predict(void *context, const segc_tensor *windows,
                                segc_tensor *logits) {
  fake_net *net = context;
  const segc_shape s = windows->shape;
  const float *in = windows->data;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t a = 0; a < s.d; ++a)
      for (int64_t b = 0; b < s.h; ++b)
        for (int64_t c = 0; c < s.w; ++c) {
          const int64_t v = ((n * s.d + a) * s.h + b) * s.w + c;
          for (int k = 0; k < K; ++k)
            net->logits[v * K + k] = fake_logit(in[v], a, b, c, k);
        }
  net->calls++;
  *logits = segc_tensor_view(net->logits, segc_shape5(s.n, K, s.d, s.h, s.w),
                             SEGC_F32, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  return SEGC_OK;
}

// MONAI's sliding_window_inference for one image, as plainly as possible (in
// MONAI's raster window order: segc's order differs only by float rounding,
// which these random logits never turn into a different argmax).
static void naive_sliding_window(const float *image, const int64_t dim[3],
                                 const int64_t roi[3], double overlap,
                                 bool constant, uint8_t *labels) {
  int64_t padded[3], before[3], starts[3][64], count[3];
  for (int a = 0; a < 3; ++a) {
    padded[a] = dim[a] > roi[a] ? dim[a] : roi[a];
    before[a] = (padded[a] - dim[a]) / 2;
    int64_t interval = roi[a] == padded[a] ? roi[a]
                                          : (int64_t)(roi[a] * (1.0 - overlap));
    if (interval < 1) interval = 1;
    count[a] = 0;
    for (int64_t d = 0;; ++d) {
      int64_t s = d * interval;
      if (s + roi[a] > padded[a]) s = padded[a] - roi[a];
      starts[a][count[a]++] = s;
      if (d * interval + roi[a] >= padded[a]) break;
    }
  }
  const int64_t np = padded[0] * padded[1] * padded[2];
  float *pad = malloc(sizeof(float) * (size_t)np);
  float *out = calloc((size_t)(np * K), sizeof(float));
  float *cnt = calloc((size_t)np, sizeof(float));
  for (int64_t i = 0; i < padded[0]; ++i)
    for (int64_t j = 0; j < padded[1]; ++j)
      for (int64_t k = 0; k < padded[2]; ++k) {
        int64_t si = i - before[0], sj = j - before[1], sk = k - before[2];
        const bool outside = si < 0 || sj < 0 || sk < 0 || si >= dim[0] ||
                             sj >= dim[1] || sk >= dim[2];
        si = si < 0 ? 0 : si >= dim[0] ? dim[0] - 1 : si;
        sj = sj < 0 ? 0 : sj >= dim[1] ? dim[1] - 1 : sj;
        sk = sk < 0 ? 0 : sk >= dim[2] ? dim[2] - 1 : sk;
        pad[(i * padded[1] + j) * padded[2] + k] =
            constant && outside ? 0.0f : image[(si * dim[1] + sj) * dim[2] + sk];
      }
  float *w = malloc(sizeof(float) * (size_t)(roi[0] * roi[1] * roi[2]));
  if (constant) {
    for (int64_t i = 0; i < roi[0] * roi[1] * roi[2]; ++i) w[i] = 1.0f;
  } else {
    segc_sw_importance_map(roi, SEGC_SW_GAUSSIAN, 0.125, w);
  }
  for (int64_t x = 0; x < count[0]; ++x)
    for (int64_t y = 0; y < count[1]; ++y)
      for (int64_t z = 0; z < count[2]; ++z)
        for (int64_t a = 0; a < roi[0]; ++a)
          for (int64_t b = 0; b < roi[1]; ++b)
            for (int64_t c = 0; c < roi[2]; ++c) {
              const int64_t p = ((starts[0][x] + a) * padded[1] + starts[1][y] + b) *
                                    padded[2] + starts[2][z] + c;
              const float wv = w[(a * roi[1] + b) * roi[2] + c];
              for (int k = 0; k < K; ++k)
                out[p * K + k] += fake_logit(pad[p], a, b, c, k) * wv;
              cnt[p] += wv;
            }
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k) {
        const int64_t p = ((i + before[0]) * padded[1] + j + before[1]) * padded[2] +
                          k + before[2];
        int best = 0;
        for (int c = 1; c < K; ++c)
          if (out[p * K + c] / cnt[p] > out[p * K + best] / cnt[p]) best = c;
        labels[(i * dim[1] + j) * dim[2] + k] = (uint8_t)best;
      }
  free(pad);
  free(out);
  free(cnt);
  free(w);
}

static int run_case(const int64_t dim[3], const int64_t roi[3], int batch,
                    bool constant,
                    const int64_t cell[3], const uint8_t *expected,
                    const segc_volume *image, const char *what,
                    segc_sw_stats *stats_out) {
  segc_sw_config cfg = segc_sw_default(K);
  memcpy(cfg.roi, roi, sizeof cfg.roi);
  cfg.sw_batch_size = batch;
  if (constant) {
    cfg.blend = SEGC_SW_CONSTANT;
    cfg.padding = SEGC_SW_PAD_ZERO;
  }
  memcpy(cfg.cell, cell, sizeof cfg.cell);
  size_t bytes;
  CHECK_OK(segc_sw_scratch_bytes(&cfg, dim, &bytes));
  segc_arena scratch;
  CHECK_OK(segc_arena_init(&scratch, "sw scratch", bytes, SEGC_DEVICE_CPU));
  fake_net net = {0};
  net.logits = malloc(sizeof(float) * (size_t)(batch * K * roi[0] * roi[1] * roi[2]));
  segc_volume labels;
  segc_sw_stats stats;
  CHECK_OK(segc_sliding_window_argmax(&cfg, fake_predict, &net, image, &scratch,
                                      &labels, &stats));
  const int64_t n = dim[0] * dim[1] * dim[2];
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += ((uint8_t *)labels.data)[i] != expected[i];
  CHECK(differ == 0, "%s: %lld of %lld labels differ from MONAI's algorithm",
        what, (long long)differ, (long long)n);
  CHECK(scratch.live_bytes == 0, "%s: scratch returned", what);
  CHECK(scratch.peak_bytes <= bytes, "%s: scratch estimate %zu < used %zu",
        what, bytes, scratch.peak_bytes);
  if (stats_out) *stats_out = stats;
  segc_volume_free(&labels);
  segc_arena_destroy(&scratch);
  free(net.logits);
  return 0;
}

int main(void) {
  // Window starts as MONAI computes them (dense_patch_slices).
  int64_t starts[16];
  int n = segc_sw_axis_starts(243, 96, 0.25, starts, 16);
  CHECK(n == 4 && starts[0] == 0 && starts[1] == 72 && starts[2] == 144 &&
            starts[3] == 147,
        "starts for 243: n=%d %lld %lld %lld %lld", n, (long long)starts[0],
        (long long)starts[1], (long long)starts[2], (long long)starts[3]);
  n = segc_sw_axis_starts(96, 96, 0.25, starts, 16);
  CHECK(n == 1 && starts[0] == 0, "a single window when size == roi");
  n = segc_sw_axis_starts(168, 96, 0.25, starts, 16);
  CHECK(n == 2 && starts[1] == 72, "168 = 72 + 96 needs two windows");

  // Importance map: exp(-x^2 / (2 sigma^2)) per axis, clamped at 1e-3.
  const int64_t roi96[3] = {96, 96, 96};
  float *map = malloc(sizeof(float) * 96 * 96 * 96);
  segc_sw_importance_map(roi96, SEGC_SW_GAUSSIAN, 0.125, map);
  double worst = 0.0;
  for (int64_t i = 0; i < 96; i += 5)
    for (int64_t j = 0; j < 96; j += 7)
      for (int64_t k = 0; k < 96; ++k) {
        const double x = i - 47.5, y = j - 47.5, z = k - 47.5;
        double want = exp(-(x * x + y * y + z * z) / (2.0 * 144.0));
        if (want < 1e-3) want = 1e-3;
        const double got = map[(i * 96 + j) * 96 + k];
        worst = fmax(worst, fabs(got - want) / want);
      }
  CHECK(worst < 1e-5, "importance map relative error %g (f32 rounding)", worst);
  CHECK(map[0] == 1e-3f, "corner clamped to 1e-3: %g", (double)map[0]);
  free(map);

  // A volume smaller than the window on axis 0 (replicate padding) and
  // several windows on the other axes.
  const int64_t dim[3] = {11, 37, 45};
  const int64_t roi[3] = {16, 16, 16};
  segc_volume image;
  CHECK_OK(segc_volume_alloc(&image, SEGC_F32, dim));
  test_fill_uniform(image.data, dim[0] * dim[1] * dim[2], -100.0f, 100.0f, 3);
  uint8_t *expected = malloc((size_t)(dim[0] * dim[1] * dim[2]));
  naive_sliding_window(image.data, dim, roi, 0.25, false, expected);

  const int64_t cell_default[3] = {0, 0, 0};
  const int64_t cell_odd[3] = {3, 5, 7};
  const int64_t cell_whole[3] = {1 << 20, 1 << 20, 1 << 20};
  segc_sw_stats streamed, whole;
  run_case(dim, roi, 1, false, cell_default, expected, &image, "cell 8", &streamed);
  run_case(dim, roi, 1, false, cell_odd, expected, &image, "cell 3x5x7", NULL);
  run_case(dim, roi, 3, false, cell_default, expected, &image, "batch 3", NULL);
  run_case(dim, roi, 1, false, cell_whole, expected, &image, "unstreamed", &whole);
  CHECK(whole.total_cells == 1, "one cell covers the volume");
  printf("windows %d, peak cells %lld of %lld (accumulator %zu bytes, "
         "unstreamed %zu)\n",
         streamed.windows, (long long)streamed.peak_cells,
         (long long)streamed.total_cells, streamed.accumulator_bytes,
         whole.accumulator_bytes);

  // A long volume: the open band stays small while the volume grows.
  const int64_t long_dim[3] = {160, 24, 24};
  segc_volume long_image;
  CHECK_OK(segc_volume_alloc(&long_image, SEGC_F32, long_dim));
  test_fill_uniform(long_image.data, 160 * 24 * 24, -50.0f, 50.0f, 4);
  uint8_t *long_expected = malloc(160 * 24 * 24);
  naive_sliding_window(long_image.data, long_dim, roi, 0.25, false, long_expected);
  segc_sw_stats long_stats;
  run_case(long_dim, roi, 2, false, cell_default, long_expected, &long_image, "long",
           &long_stats);
  CHECK(long_stats.peak_cells * 3 < long_stats.total_cells,
        "streaming keeps few cells alive: peak %lld of %lld",
        (long long)long_stats.peak_cells, (long long)long_stats.total_cells);

  // MONAI's defaults (the bundle's validation): constant blending, zeros.
  uint8_t *constant_expected = malloc((size_t)(dim[0] * dim[1] * dim[2]));
  naive_sliding_window(image.data, dim, roi, 0.25, true, constant_expected);
  run_case(dim, roi, 2, true, cell_odd, constant_expected, &image, "constant",
           NULL);
  int64_t constant_differs = 0;
  for (int64_t i = 0; i < dim[0] * dim[1] * dim[2]; ++i)
    constant_differs += constant_expected[i] != expected[i];
  CHECK(constant_differs > 0, "constant blending changes some labels");
  free(constant_expected);

  // Thread count does not change labels (blending is per voxel).
  segc_set_threads(1);
  run_case(dim, roi, 1, false, cell_odd, expected, &image, "1 thread", NULL);
  segc_set_threads(2);

  // Bad configuration.
  segc_sw_config bad = segc_sw_default(K);
  bad.overlap = 1.0;
  size_t bytes;
  CHECK_FAILS(segc_sw_scratch_bytes(&bad, dim, &bytes), SEGC_ERR_INVALID,
              "overlap");

  segc_volume_free(&image);
  segc_volume_free(&long_image);
  free(expected);
  free(long_expected);
  return test_finish("sliding_window");
}
