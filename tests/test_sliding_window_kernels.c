// The sliding window's kernels (infer/sliding_window_kernels.h) against
// plain re-statements on a dense padded volume, and the predictor contract:
// logits come back as a tensor in a float dtype on the scratch arena's
// device; other devices are refused with the backend table's message.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "infer/sliding_window.h"
#include "infer/sliding_window_kernels.h"
#include "util/test_util.h"

enum { K = 5 };

// ---------------------------------------------------------------------------
// Kernels against a reference.

typedef struct {
  segc_sw_geometry g;
  int64_t padded[3];
  int64_t cells;
} small_layout;

static small_layout make_layout(void) {
  small_layout s;
  const int64_t dim[3] = {4, 13, 11}, roi[3] = {6, 7, 5}, cell[3] = {3, 4, 2};
  s.cells = 1;
  for (int a = 0; a < 3; ++a) {
    s.g.dim[a] = dim[a];
    s.g.roi[a] = roi[a];
    s.g.cell[a] = cell[a];
    s.padded[a] = dim[a] > roi[a] ? dim[a] : roi[a];
    s.g.pad_before[a] = (s.padded[a] - dim[a]) / 2;
    s.g.grid[a] = (s.padded[a] + cell[a] - 1) / cell[a];
    s.cells *= s.g.grid[a];
  }
  s.g.channels = K;
  s.g.cell_floats = (size_t)(cell[0] * cell[1] * cell[2]) * (K + 1);
  return s;
}

// Slot of cell c: a permutation, so that a kernel that ignores the slot
// table writes the wrong place.
static int32_t slot_of(const small_layout *s, int64_t c) {
  return (int32_t)(s->cells - 1 - c);
}

static void window_cells(const small_layout *s, const int64_t start[3],
                         segc_sw_window_cells *cells, int32_t *slots) {
  int64_t n = 0;
  for (int a = 0; a < 3; ++a) {
    cells->lo[a] = start[a] / s->g.cell[a];
    cells->hi[a] = (start[a] + s->g.roi[a] - 1) / s->g.cell[a];
  }
  for (int64_t i = cells->lo[0]; i <= cells->hi[0]; ++i)
    for (int64_t j = cells->lo[1]; j <= cells->hi[1]; ++j)
      for (int64_t k = cells->lo[2]; k <= cells->hi[2]; ++k)
        slots[n++] = slot_of(s, (i * s->g.grid[1] + j) * s->g.grid[2] + k);
  cells->slots = slots;
}

// Pool element of padded voxel p (x, y, z) and channel k (K: the weight).
static float pool_at(const small_layout *s, const float *pool, int64_t x,
                     int64_t y, int64_t z, int64_t k) {
  const segc_sw_geometry *g = &s->g;
  const int64_t c =
      ((x / g->cell[0]) * g->grid[1] + y / g->cell[1]) * g->grid[2] + z / g->cell[2];
  const int64_t v =
      ((x % g->cell[0]) * g->cell[1] + y % g->cell[1]) * g->cell[2] + z % g->cell[2];
  return pool[(size_t)slot_of(s, c) * g->cell_floats + (size_t)v * (K + 1) + (size_t)k];
}

static void store_logits(segc_dtype dtype, const float *values, int64_t n,
                         void *out) {
  for (int64_t i = 0; i < n; ++i) segc_store_f32(out, dtype, (size_t)i, values[i]);
}

static int check_kernels(segc_dtype dtype) {
  const segc_sw_kernels *kern = &segc_sw_cpu_kernels;
  const small_layout s = make_layout();
  const segc_sw_geometry *g = &s.g;
  const int64_t window = g->roi[0] * g->roi[1] * g->roi[2];
  const int64_t np = s.padded[0] * s.padded[1] * s.padded[2];
  float *pool = malloc(sizeof(float) * g->cell_floats * (size_t)s.cells);
  float *weights = malloc(sizeof(float) * (size_t)window);
  float *values = malloc(sizeof(float) * (size_t)(window * K));
  void *logits = malloc(sizeof(float) * (size_t)(window * K));
  float *ref = calloc((size_t)(np * (K + 1)), sizeof(float));
  int32_t *all_slots = malloc(sizeof(int32_t) * (size_t)s.cells);
  int64_t *all_cells = malloc(sizeof(int64_t) * (size_t)s.cells);
  int32_t window_slots[1024];
  uint8_t labels[4 * 13 * 11], want[4 * 13 * 11];
  // Garbage first: clear must zero every slot it is given.
  for (size_t i = 0; i < g->cell_floats * (size_t)s.cells; ++i) pool[i] = NAN;
  for (int64_t c = 0; c < s.cells; ++c) {
    all_cells[c] = c;
    all_slots[c] = slot_of(&s, c);
  }
  CHECK_OK(kern->clear(NULL, g, pool, all_slots, s.cells));
  test_fill_uniform(weights, window, 0.1f, 1.0f, 11);
  const int64_t starts[3][3] = {{0, 0, 0}, {0, 6, 6}, {0, 3, 4}};
  for (int w = 0; w < 3; ++w) {
    test_fill_uniform(values, window * K, -3.0f, 3.0f, (uint64_t)(20 + w));
    store_logits(dtype, values, window * K, logits);
    const segc_tensor t = segc_tensor_view(
        logits, segc_shape5(1, K, g->roi[0], g->roi[1], g->roi[2]), dtype,
        SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
    segc_sw_window_cells cells;
    window_cells(&s, starts[w], &cells, window_slots);
    CHECK_OK(kern->blend(NULL, g, starts[w], weights, &t, pool, &cells));
    // Reference: acc += logit * w, in f32, on the dense padded volume.
    for (int64_t a = 0; a < g->roi[0]; ++a)
      for (int64_t b = 0; b < g->roi[1]; ++b)
        for (int64_t c = 0; c < g->roi[2]; ++c) {
          const int64_t v = (a * g->roi[1] + b) * g->roi[2] + c;
          const int64_t p = ((starts[w][0] + a) * s.padded[1] + starts[w][1] + b) *
                                s.padded[2] + starts[w][2] + c;
          for (int64_t k = 0; k < K; ++k)
            ref[p * (K + 1) + k] +=
                segc_load_f32(logits, dtype, (size_t)(v * K + k)) * weights[v];
          ref[p * (K + 1) + K] += weights[v];
        }
  }
  int64_t differ = 0;
  for (int64_t x = 0; x < s.padded[0]; ++x)
    for (int64_t y = 0; y < s.padded[1]; ++y)
      for (int64_t z = 0; z < s.padded[2]; ++z)
        for (int64_t k = 0; k <= K; ++k) {
          const int64_t p = (x * s.padded[1] + y) * s.padded[2] + z;
          const float got = pool_at(&s, pool, x, y, z, k);
          differ += memcmp(&got, &ref[p * (K + 1) + k], sizeof got) != 0;
        }
  CHECK(differ == 0, "%s blend: %lld accumulator values differ from the "
        "reference", segc_dtype_name(dtype), (long long)differ);

  // Finalize every cell: argmax of sum / weight, first maximum wins; voxels
  // the windows never reached have weight 0 and are not compared.
  memset(labels, 0xff, sizeof labels);
  CHECK_OK(kern->finalize(NULL, g, pool, all_cells, all_slots, s.cells,
                          labels));
  int64_t wrong = 0, compared = 0;
  for (int64_t i = 0; i < g->dim[0]; ++i)
    for (int64_t j = 0; j < g->dim[1]; ++j)
      for (int64_t k = 0; k < g->dim[2]; ++k) {
        const int64_t p = ((i + g->pad_before[0]) * s.padded[1] + j +
                           g->pad_before[1]) * s.padded[2] + k + g->pad_before[2];
        const float *v = ref + p * (K + 1);
        const int64_t at = (i * g->dim[1] + j) * g->dim[2] + k;
        if (v[K] == 0.0f) continue;
        int best = 0;
        for (int c = 1; c < K; ++c)
          if (v[c] / v[K] > v[best] / v[K]) best = c;
        want[at] = (uint8_t)best;
        compared++;
        wrong += labels[at] != want[at];
      }
  CHECK(compared > 300 && wrong == 0, "%s finalize: %lld of %lld labels "
        "differ from the reference argmax", segc_dtype_name(dtype),
        (long long)wrong, (long long)compared);
  free(pool);
  free(weights);
  free(values);
  free(logits);
  free(ref);
  free(all_slots);
  free(all_cells);
  return 0;
}

// extract: replicate or zero padding outside the image.
static void check_extract(segc_sw_padding padding, const char *what) {
  const small_layout s = make_layout();
  const segc_sw_geometry *g = &s.g;
  const int64_t n = g->dim[0] * g->dim[1] * g->dim[2];
  float *image = malloc(sizeof(float) * (size_t)n);
  float window[6 * 7 * 5];
  test_fill_uniform(image, n, -1.0f, 1.0f, 5);
  const int64_t start[3] = {0, 6, 6};
  segc_sw_extract_host(g, padding, image, start, window);
  int64_t wrong = 0;
  for (int64_t a = 0; a < g->roi[0]; ++a)
    for (int64_t b = 0; b < g->roi[1]; ++b)
      for (int64_t c = 0; c < g->roi[2]; ++c) {
        const int64_t at[3] = {start[0] + a - g->pad_before[0],
                               start[1] + b - g->pad_before[1],
                               start[2] + c - g->pad_before[2]};
        int64_t clamped[3];
        bool inside = true;
        for (int d = 0; d < 3; ++d) {
          clamped[d] = at[d] < 0 ? 0 : at[d] >= g->dim[d] ? g->dim[d] - 1 : at[d];
          inside = inside && clamped[d] == at[d];
        }
        const float want =
            padding == SEGC_SW_PAD_ZERO && !inside
                ? 0.0f
                : image[(clamped[0] * g->dim[1] + clamped[1]) * g->dim[2] + clamped[2]];
        wrong += window[(a * g->roi[1] + b) * g->roi[2] + c] != want;
      }
  CHECK(wrong == 0, "extract %s: %lld voxels wrong", what, (long long)wrong);
  free(image);
}

// ---------------------------------------------------------------------------
// The predictor contract, through segc_sliding_window_argmax.

typedef struct {
  segc_dtype dtype;       // of the logits returned
  bool round_to_bf16;     // f32 logits holding bf16-rounded values
  segc_device device;     // claimed for the logits
  segc_layout layout;
  void *logits;
} fake_net;

static segc_status fake_predict(void *context, const segc_tensor *windows,
                                segc_tensor *logits) {
  fake_net *net = context;
  const segc_shape s = windows->shape;
  const float *in = windows->data;
  const int64_t voxels = s.n * s.d * s.h * s.w;
  for (int64_t v = 0; v < voxels; ++v)
    for (int k = 0; k < K; ++k) {
      const int64_t within = v % (s.d * s.h * s.w);
      float x = sinf(0.41f * (float)k + 0.013f * in[v]) +
                0.03f * (float)k * cosf(0.07f * (float)within);
      if (net->round_to_bf16) x = segc_bf16_to_f32(segc_f32_to_bf16(x));
      segc_store_f32(net->logits, net->dtype, (size_t)(v * K + k), x);
    }
  *logits = segc_tensor_view(net->logits, segc_shape5(s.n, K, s.d, s.h, s.w),
                             net->dtype, net->layout, net->device);
  return SEGC_OK;
}

static segc_status run(fake_net *net, const segc_volume *image, int batch,
                       segc_volume *labels) {
  segc_sw_config cfg = segc_sw_default(K);
  cfg.roi[0] = cfg.roi[1] = cfg.roi[2] = 8;
  cfg.sw_batch_size = batch;
  size_t bytes;
  SEGC_TRY(segc_sw_scratch_bytes(&cfg, image->dim, &bytes));
  segc_arena scratch;
  SEGC_TRY(segc_arena_init(&scratch, "sw scratch", bytes, SEGC_DEVICE_CPU));
  net->logits = malloc(sizeof(float) * (size_t)(batch * K * 8 * 8 * 8));
  const segc_status status = segc_sliding_window_argmax(
      &cfg, fake_predict, net, image, &scratch, labels, NULL);
  free(net->logits);
  segc_arena_destroy(&scratch);
  return status;
}

static int check_contract(void) {
  const int64_t dim[3] = {7, 19, 13};
  const int64_t n = dim[0] * dim[1] * dim[2];
  segc_volume image, reference, got;
  CHECK_OK(segc_volume_alloc(&image, SEGC_F32, dim));
  test_fill_uniform(image.data, n, -100.0f, 100.0f, 7);

  // bf16 logits blend as their f32 values: the labels are bitwise those of
  // f32 logits holding the same (rounded) numbers.
  fake_net rounded = {SEGC_F32, true, SEGC_DEVICE_CPU, SEGC_LAYOUT_NDHWC, NULL};
  CHECK_OK(run(&rounded, &image, 2, &reference));
  fake_net bf16 = {SEGC_BF16, false, SEGC_DEVICE_CPU, SEGC_LAYOUT_NDHWC, NULL};
  CHECK_OK(run(&bf16, &image, 2, &got));
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i)
    differ += ((uint8_t *)got.data)[i] != ((uint8_t *)reference.data)[i];
  CHECK(differ == 0, "bf16 logits: %lld of %lld labels differ from f32 "
        "logits with the same values", (long long)differ, (long long)n);
  segc_volume_free(&got);
  segc_volume_free(&reference);

  // f16 logits are read too (different rounding: only the run is checked).
  fake_net f16 = {SEGC_F16, false, SEGC_DEVICE_CPU, SEGC_LAYOUT_NDHWC, NULL};
  CHECK_OK(run(&f16, &image, 1, &got));
  segc_volume_free(&got);

  // Logits on a device without sliding-window kernels: the table's refusal,
  // and no label volume left behind.
  fake_net cuda = {SEGC_F32, false, SEGC_DEVICE_CUDA, SEGC_LAYOUT_NDHWC, NULL};
  memset(&got, 0, sizeof got);
#ifdef SEGC_HAVE_CUDA
  // A CUDA build has the kernels: logits on cuda meet a CPU accumulator.
  CHECK_FAILS(run(&cuda, &image, 1, &got), SEGC_ERR_INVALID,
              "sliding window: the network output is on cuda, the "
              "accumulator on cpu");
#else
  CHECK_FAILS(run(&cuda, &image, 1, &got), SEGC_ERR_UNSUPPORTED,
              "sliding window: no cuda kernel for f32 in this build");
#endif
  CHECK(got.data == NULL, "the labels are freed after a failure");
  fake_net ints = {SEGC_I32, false, SEGC_DEVICE_CPU, SEGC_LAYOUT_NDHWC, NULL};
  CHECK_FAILS(run(&ints, &image, 1, &got), SEGC_ERR_UNSUPPORTED,
              "sliding window: no cpu kernel for i32 in this build");
  fake_net ncdhw = {SEGC_F32, false, SEGC_DEVICE_CPU, SEGC_LAYOUT_NCDHW, NULL};
  CHECK_FAILS(run(&ncdhw, &image, 1, &got), SEGC_ERR_INTERNAL,
              "must be NDHWC");

#ifndef SEGC_HAVE_CUDA
  // A scratch arena (the accumulator's home) on such a device is refused
  // before anything runs.
  segc_sw_config cfg = segc_sw_default(K);
  cfg.roi[0] = cfg.roi[1] = cfg.roi[2] = 8;
  segc_arena device_scratch;
  memset(&device_scratch, 0, sizeof device_scratch);
  device_scratch.device = SEGC_DEVICE_CUDA;
  CHECK_FAILS(segc_sliding_window_argmax(&cfg, fake_predict, &cuda, &image,
                                         &device_scratch, &got, NULL),
              SEGC_ERR_UNSUPPORTED, "sliding window: no cuda kernel in this build");
#endif
  segc_volume_free(&image);
  return 0;
}

int main(void) {
  check_kernels(SEGC_F32);
  check_kernels(SEGC_BF16);
  check_kernels(SEGC_F16);
  check_extract(SEGC_SW_PAD_REPLICATE, "replicate");
  check_extract(SEGC_SW_PAD_ZERO, "zero");
  check_contract();
  return test_finish("sliding_window_kernels");
}
