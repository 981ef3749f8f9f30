#include "infer/sliding_window.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/parallel.h"

enum { kMaxStarts = 4096, kDefaultCell = 8 };

segc_sw_config segc_sw_default(int64_t channels) {
  segc_sw_config c;
  memset(&c, 0, sizeof c);
  c.roi[0] = c.roi[1] = c.roi[2] = 96;
  c.overlap = 0.25;
  c.sw_batch_size = 1;
  c.sigma_scale = 0.125;
  c.channels = channels;
  return c;
}

int segc_sw_axis_starts(int64_t size, int64_t roi, double overlap,
                        int64_t *starts, int max_starts) {
  // monai/inferers/utils.py _get_scan_interval and
  // monai/data/utils.py dense_patch_slices, on the padded size.
  int64_t interval = roi;
  if (roi != size) {
    interval = (int64_t)((double)roi * (1.0 - overlap));
    if (interval < 1) interval = 1;
  }
  const int64_t num = (size + interval - 1) / interval;
  int64_t count = 1;
  for (int64_t d = 0; d < num; ++d) {
    if (d * interval + roi >= size) {
      count = d + 1;
      break;
    }
  }
  if (count > max_starts) count = max_starts;
  for (int64_t i = 0; i < count; ++i) {
    int64_t start = i * interval;
    const int64_t overshoot = start + roi - size;
    if (overshoot > 0) start -= overshoot;
    starts[i] = start;
  }
  return (int)count;
}

void segc_sw_importance_map(const int64_t roi[3], segc_sw_blend blend,
                            double sigma_scale, float *map) {
  if (blend == SEGC_SW_CONSTANT) {
    const int64_t n = roi[0] * roi[1] * roi[2];
    for (int64_t i = 0; i < n; ++i) map[i] = 1.0f;
    return;
  }
  // compute_importance_map in monai/data/utils.py, in f32 as there: each
  // axis exp(x^2 / (-2 sigma^2)) with x from -(r-1)/2, the product taken
  // axis by axis, then clamped below at max(min, 1e-3).
  float *axis[3];
  float storage[3][1024];
  for (int a = 0; a < 3; ++a) {
    axis[a] = storage[a];
    const double sigma = (double)roi[a] * sigma_scale;
    const float denominator = (float)(-2.0 * sigma * sigma);
    for (int64_t i = 0; i < roi[a] && i < 1024; ++i) {
      const float x = (float)(-((double)roi[a] - 1.0) / 2.0 + (double)i);
      axis[a][i] = expf(x * x / denominator);
    }
  }
  float min_value = INFINITY;
  for (int64_t i = 0; i < roi[0]; ++i)
    for (int64_t j = 0; j < roi[1]; ++j)
      for (int64_t k = 0; k < roi[2]; ++k) {
        const float v = (axis[0][i] * axis[1][j]) * axis[2][k];
        map[(i * roi[1] + j) * roi[2] + k] = v;
        if (v < min_value) min_value = v;
      }
  const float floor_value = min_value > 1e-3f ? min_value : 1e-3f;
  const int64_t n = roi[0] * roi[1] * roi[2];
  for (int64_t i = 0; i < n; ++i)
    if (map[i] < floor_value) map[i] = floor_value;
}

// The window layout: padded size, starts per axis, cells.
typedef struct {
  int64_t dim[3];        // image
  int64_t padded[3];     // max(dim, roi)
  int64_t pad_before[3]; // replicate padding before (MONAI: smaller half)
  int64_t roi[3];
  int64_t starts[3][kMaxStarts];
  int start_count[3];
  int windows;
  int32_t (*order)[3];   // window w uses starts order[w][a] (malloc)
  int64_t cell[3];
  int64_t grid[3];       // cells per axis
  int64_t cells;
} sw_plan;

static segc_status make_order(sw_plan *plan);

static segc_status make_plan(const segc_sw_config *config, const int64_t dim[3],
                             sw_plan *plan) {
  if (config->overlap < 0.0 || config->overlap >= 1.0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "sliding window: overlap must be in [0, 1), got %g",
                     config->overlap);
  if (config->sw_batch_size < 1 || config->channels < 1)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "sliding window: sw_batch_size and channels must be >= 1");
  plan->windows = 1;
  plan->cells = 1;
  for (int a = 0; a < 3; ++a) {
    if (config->roi[a] < 1 || config->roi[a] > 1024 || dim[a] < 1)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "sliding window: roi %lld and size %lld on axis %d",
                       (long long)config->roi[a], (long long)dim[a], a);
    plan->dim[a] = dim[a];
    plan->roi[a] = config->roi[a];
    plan->padded[a] = dim[a] > config->roi[a] ? dim[a] : config->roi[a];
    plan->pad_before[a] = (plan->padded[a] - dim[a]) / 2;
    plan->start_count[a] =
        segc_sw_axis_starts(plan->padded[a], config->roi[a], config->overlap,
                            plan->starts[a], kMaxStarts);
    plan->windows *= plan->start_count[a];
    plan->cell[a] = config->cell[a] > 0 ? config->cell[a] : kDefaultCell;
    if (plan->cell[a] > plan->padded[a]) plan->cell[a] = plan->padded[a];
    plan->grid[a] = (plan->padded[a] + plan->cell[a] - 1) / plan->cell[a];
    plan->cells *= plan->grid[a];
  }
  return make_order(plan);
}

static void window_start(const sw_plan *plan, int w, int64_t start[3]) {
  for (int a = 0; a < 3; ++a) start[a] = plan->starts[a][plan->order[w][a]];
}

// Window order. MONAI visits windows in raster order; any fixed order gives
// the same per-voxel sums up to float rounding, and the unstreamed result is
// bitwise the same for a given order. segc interleaves the last two windows
// of every axis (the last one is shifted back to end at the border, so it
// overlaps its neighbour by more than the scan interval): the band of cells
// waiting for a later window then never spans a whole cross-section twice,
// which cuts the accumulator's peak by about 40% on large volumes.
static segc_status make_order(sw_plan *plan) {
  plan->order = malloc(sizeof *plan->order * (size_t)plan->windows);
  if (!plan->order)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: %d windows", plan->windows);
  int groups[3], group_first[3][kMaxStarts], group_size[3][kMaxStarts];
  for (int a = 0; a < 3; ++a) {
    const int n = plan->start_count[a];
    groups[a] = n >= 2 ? n - 1 : n;
    for (int g = 0; g < groups[a]; ++g) {
      group_first[a][g] = g;
      group_size[a][g] = (n >= 2 && g == groups[a] - 1) ? 2 : 1;
    }
  }
  int w = 0;
  for (int g0 = 0; g0 < groups[0]; ++g0)
    for (int g1 = 0; g1 < groups[1]; ++g1)
      for (int g2 = 0; g2 < groups[2]; ++g2)
        for (int m0 = 0; m0 < group_size[0][g0]; ++m0)
          for (int m1 = 0; m1 < group_size[1][g1]; ++m1)
            for (int m2 = 0; m2 < group_size[2][g2]; ++m2) {
              plan->order[w][0] = group_first[0][g0] + m0;
              plan->order[w][1] = group_first[1][g1] + m1;
              plan->order[w][2] = group_first[2][g2] + m2;
              ++w;
            }
  return SEGC_OK;
}

static void free_plan(sw_plan *plan) {
  if (!plan) return;
  free(plan->order);
  free(plan);
}

// Cell index range [lo, hi] touched by a window on each axis.
static void window_cells(const sw_plan *plan, const int64_t start[3],
                         int64_t lo[3], int64_t hi[3]) {
  for (int a = 0; a < 3; ++a) {
    lo[a] = start[a] / plan->cell[a];
    hi[a] = (start[a] + plan->roi[a] - 1) / plan->cell[a];
  }
}

// last[c]: the last window touching cell c. Returns the peak number of live
// cells when windows run in batches of `batch`.
static int64_t plan_lifetimes(const sw_plan *plan, int batch, int32_t *first,
                              int32_t *last) {
  for (int64_t c = 0; c < plan->cells; ++c) first[c] = last[c] = -1;
  for (int w = 0; w < plan->windows; ++w) {
    int64_t start[3], lo[3], hi[3];
    window_start(plan, w, start);
    window_cells(plan, start, lo, hi);
    for (int64_t i = lo[0]; i <= hi[0]; ++i)
      for (int64_t j = lo[1]; j <= hi[1]; ++j)
        for (int64_t k = lo[2]; k <= hi[2]; ++k) {
          const int64_t c = (i * plan->grid[1] + j) * plan->grid[2] + k;
          if (first[c] < 0) first[c] = w;
          last[c] = w;
        }
  }
  // Live cells after allocating for a batch and before freeing its finished
  // cells: born in or before the batch, dying in or after it.
  int64_t peak = 0;
  for (int b0 = 0; b0 < plan->windows; b0 += batch) {
    const int b1 = b0 + batch < plan->windows ? b0 + batch : plan->windows;
    int64_t live = 0;
    for (int64_t c = 0; c < plan->cells; ++c)
      if (first[c] >= 0 && first[c] < b1 && last[c] >= b0) live++;
    if (live > peak) peak = live;
  }
  return peak;
}

static size_t cell_floats(const sw_plan *plan, int64_t channels) {
  return (size_t)(plan->cell[0] * plan->cell[1] * plan->cell[2]) *
         (size_t)(channels + 1);
}

static size_t align_up(size_t bytes) {
  return (bytes + SEGC_ARENA_ALIGN - 1) & ~(size_t)(SEGC_ARENA_ALIGN - 1);
}

static int64_t max_cells_per_window(const sw_plan *plan) {
  int64_t n = 1;
  for (int a = 0; a < 3; ++a) n *= plan->roi[a] / plan->cell[a] + 2;
  return n;
}

static size_t fixed_bytes(const sw_plan *plan, const segc_sw_config *config) {
  const size_t window = (size_t)(plan->roi[0] * plan->roi[1] * plan->roi[2]);
  return align_up(window * sizeof(float)) +                      // importance
         align_up(window * sizeof(float) * (size_t)config->sw_batch_size) +
         3 * align_up((size_t)plan->cells * sizeof(int32_t)) +   // first, last, slot
         align_up(sizeof(int64_t) * (size_t)max_cells_per_window(plan));
}

segc_status segc_sw_scratch_bytes(const segc_sw_config *config,
                                  const int64_t dim[3], size_t *bytes) {
  sw_plan *plan = calloc(1, sizeof *plan);
  if (!plan) return SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: out of memory");
  segc_status status = make_plan(config, dim, plan);
  if (status == SEGC_OK) {
    int32_t *first = malloc(sizeof(int32_t) * (size_t)plan->cells);
    int32_t *last = malloc(sizeof(int32_t) * (size_t)plan->cells);
    if (!first || !last) {
      status = SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: out of memory");
    } else {
      const int64_t peak = plan_lifetimes(plan, config->sw_batch_size, first, last);
      *bytes = fixed_bytes(plan, config) +
               align_up((size_t)peak * cell_floats(plan, config->channels) *
                        sizeof(float)) +
               align_up((size_t)peak * sizeof(int32_t));
    }
    free(first);
    free(last);
  }
  free_plan(plan);
  return status;
}

// Copies window `start` (padded coordinates) of the image into `out`
// (r0, r1, r2); where the window leaves the image it replicates border
// voxels or reads zeros.
static void extract_window(const sw_plan *plan, segc_sw_padding padding,
                           const float *image, const int64_t start[3],
                           float *out) {
  const int64_t r0 = plan->roi[0], r1 = plan->roi[1], r2 = plan->roi[2];
#pragma omp parallel for schedule(static)
  for (int64_t a = 0; a < r0; ++a) {
    int64_t i = start[0] + a - plan->pad_before[0];
    i = i < 0 ? 0 : (i >= plan->dim[0] ? plan->dim[0] - 1 : i);
    for (int64_t b = 0; b < r1; ++b) {
      int64_t j = start[1] + b - plan->pad_before[1];
      j = j < 0 ? 0 : (j >= plan->dim[1] ? plan->dim[1] - 1 : j);
      const float *row = image + (i * plan->dim[1] + j) * plan->dim[2];
      float *dst = out + (a * r1 + b) * r2;
      const bool zero_row =
          padding == SEGC_SW_PAD_ZERO &&
          (start[0] + a - plan->pad_before[0] != i ||
           start[1] + b - plan->pad_before[1] != j);
      for (int64_t c = 0; c < r2; ++c) {
        const int64_t raw = start[2] + c - plan->pad_before[2];
        const int64_t k = raw < 0 ? 0 : (raw >= plan->dim[2] ? plan->dim[2] - 1 : raw);
        dst[c] = zero_row || (padding == SEGC_SW_PAD_ZERO && raw != k) ? 0.0f
                                                                       : row[k];
      }
    }
  }
}

typedef struct {
  const sw_plan *plan;
  int64_t channels;
  size_t cell_floats;
  float *pool;
  int32_t *slot;       // per cell: pool slot or -1
  int32_t *free_slots; // stack of free pool slots
  int64_t free_count;
  int64_t live, peak_live;
} accumulator;

static float *cell_data(const accumulator *acc, int64_t cell) {
  return acc->pool + (size_t)acc->slot[cell] * acc->cell_floats;
}

static segc_status open_cells(accumulator *acc, const int64_t start[3]) {
  const sw_plan *plan = acc->plan;
  int64_t lo[3], hi[3];
  window_cells(plan, start, lo, hi);
  for (int64_t i = lo[0]; i <= hi[0]; ++i)
    for (int64_t j = lo[1]; j <= hi[1]; ++j)
      for (int64_t k = lo[2]; k <= hi[2]; ++k) {
        const int64_t c = (i * plan->grid[1] + j) * plan->grid[2] + k;
        if (acc->slot[c] >= 0) continue;
        if (acc->free_count == 0)
          return SEGC_FAIL(SEGC_ERR_INTERNAL,
                           "sliding window: cell pool exhausted");
        acc->slot[c] = acc->free_slots[--acc->free_count];
        memset(cell_data(acc, c), 0, acc->cell_floats * sizeof(float));
        if (++acc->live > acc->peak_live) acc->peak_live = acc->live;
      }
  return SEGC_OK;
}

// acc[v][k] += w[v] * logits[v][k]; acc[v][K] += w[v], for the window's
// voxels. Rows of the window are distinct voxels, so threads never collide.
static void blend_window(accumulator *acc, const int64_t start[3],
                         const float *weights, const float *logits) {
  const sw_plan *plan = acc->plan;
  const int64_t K = acc->channels;
  const int64_t r0 = plan->roi[0], r1 = plan->roi[1], r2 = plan->roi[2];
  const int64_t e0 = plan->cell[0], e1 = plan->cell[1], e2 = plan->cell[2];
#pragma omp parallel for schedule(static)
  for (int64_t a = 0; a < r0; ++a) {
    const int64_t pa = start[0] + a;
    for (int64_t b = 0; b < r1; ++b) {
      const int64_t pb = start[1] + b;
      const int64_t row_cell = ((pa / e0) * plan->grid[1] + pb / e1) * plan->grid[2];
      const int64_t row_offset = ((pa % e0) * e1 + pb % e1) * e2;
      for (int64_t c = 0; c < r2; ++c) {
        const int64_t pc = start[2] + c;
        const int64_t v = (a * r1 + b) * r2 + c;
        const float w = weights[v];
        float *dst = cell_data(acc, row_cell + pc / e2) +
                     (size_t)(row_offset + pc % e2) * (size_t)(K + 1);
        const float *src = logits + v * K;
        for (int64_t k = 0; k < K; ++k) dst[k] += src[k] * w;
        dst[K] += w;
      }
    }
  }
}

// Writes the argmax of a finished cell into the label volume and frees it.
static void finalize_cell(const accumulator *acc, int64_t cell,
                          uint8_t *labels) {
  const sw_plan *plan = acc->plan;
  const int64_t K = acc->channels;
  const int64_t ci = cell / (plan->grid[1] * plan->grid[2]);
  const int64_t cj = (cell / plan->grid[2]) % plan->grid[1];
  const int64_t ck = cell % plan->grid[2];
  const float *data = cell_data(acc, cell);
  for (int64_t a = 0; a < plan->cell[0]; ++a) {
    const int64_t i = ci * plan->cell[0] + a - plan->pad_before[0];
    if (i < 0 || i >= plan->dim[0]) continue;
    for (int64_t b = 0; b < plan->cell[1]; ++b) {
      const int64_t j = cj * plan->cell[1] + b - plan->pad_before[1];
      if (j < 0 || j >= plan->dim[1]) continue;
      for (int64_t c = 0; c < plan->cell[2]; ++c) {
        const int64_t k = ck * plan->cell[2] + c - plan->pad_before[2];
        if (k < 0 || k >= plan->dim[2]) continue;
        const float *v =
            data + (size_t)((a * plan->cell[1] + b) * plan->cell[2] + c) *
                       (size_t)(K + 1);
        const float count = v[K];
        int64_t best = 0;
        float best_value = v[0] / count;
        for (int64_t ch = 1; ch < K; ++ch) {
          const float value = v[ch] / count;
          if (value > best_value) {  // first maximum wins, as torch.argmax
            best_value = value;
            best = ch;
          }
        }
        labels[(i * plan->dim[1] + j) * plan->dim[2] + k] = (uint8_t)best;
      }
    }
  }
}

// Finishes every cell whose last window is `w`.
static void close_cells(accumulator *acc, const int32_t *last, int w,
                        const int64_t start[3], uint8_t *labels,
                        int64_t *closing) {
  const sw_plan *plan = acc->plan;
  int64_t lo[3], hi[3], count = 0;
  window_cells(plan, start, lo, hi);
  for (int64_t i = lo[0]; i <= hi[0]; ++i)
    for (int64_t j = lo[1]; j <= hi[1]; ++j)
      for (int64_t k = lo[2]; k <= hi[2]; ++k) {
        const int64_t c = (i * plan->grid[1] + j) * plan->grid[2] + k;
        if (last[c] == w) closing[count++] = c;
      }
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t n = 0; n < count; ++n) finalize_cell(acc, closing[n], labels);
  for (int64_t n = 0; n < count; ++n) {
    acc->free_slots[acc->free_count++] = acc->slot[closing[n]];
    acc->slot[closing[n]] = -1;
    acc->live--;
  }
}

typedef struct {
  segc_arena *arena;
  void *blocks[8];
  size_t sizes[8];
  int count;
} scratch_list;

static segc_status take(scratch_list *list, size_t bytes, void **out) {
  SEGC_TRY(segc_arena_alloc(list->arena, bytes, out));
  list->blocks[list->count] = *out;
  list->sizes[list->count++] = bytes;
  return SEGC_OK;
}

static void give_back(scratch_list *list) {
  while (list->count > 0) {
    --list->count;
    segc_arena_free(list->arena, list->blocks[list->count],
                    list->sizes[list->count]);
  }
}

static segc_status run_windows(const segc_sw_config *config,
                               const sw_plan *plan, segc_predict_fn predict,
                               void *predict_context, const float *image,
                               scratch_list *scratch, uint8_t *labels,
                               segc_sw_stats *stats) {
  const int64_t window_voxels = plan->roi[0] * plan->roi[1] * plan->roi[2];
  const int batch = config->sw_batch_size;
  float *weights, *windows;
  int32_t *first, *last;
  int64_t *closing;
  accumulator acc = {.plan = plan, .channels = config->channels};
  acc.cell_floats = cell_floats(plan, config->channels);
  SEGC_TRY(take(scratch, sizeof(float) * (size_t)window_voxels, (void **)&weights));
  SEGC_TRY(take(scratch, sizeof(float) * (size_t)(window_voxels * batch),
                (void **)&windows));
  SEGC_TRY(take(scratch, sizeof(int32_t) * (size_t)plan->cells, (void **)&first));
  SEGC_TRY(take(scratch, sizeof(int32_t) * (size_t)plan->cells, (void **)&last));
  SEGC_TRY(take(scratch, sizeof(int32_t) * (size_t)plan->cells,
                (void **)&acc.slot));
  SEGC_TRY(take(scratch, sizeof(int64_t) * (size_t)max_cells_per_window(plan),
                (void **)&closing));
  const int64_t peak = plan_lifetimes(plan, batch, first, last);
  SEGC_TRY(take(scratch, sizeof(float) * acc.cell_floats * (size_t)peak,
                (void **)&acc.pool));
  SEGC_TRY(take(scratch, sizeof(int32_t) * (size_t)peak,
                (void **)&acc.free_slots));
  for (int64_t c = 0; c < plan->cells; ++c) acc.slot[c] = -1;
  for (int64_t s = 0; s < peak; ++s) acc.free_slots[s] = (int32_t)(peak - 1 - s);
  acc.free_count = peak;
  segc_sw_importance_map(plan->roi, config->blend, config->sigma_scale,
                         weights);

  for (int b0 = 0; b0 < plan->windows; b0 += batch) {
    const int count = b0 + batch <= plan->windows ? batch : plan->windows - b0;
    int64_t start[3];
    for (int n = 0; n < count; ++n) {
      window_start(plan, b0 + n, start);
      extract_window(plan, config->padding, image, start,
                     windows + n * window_voxels);
    }
    segc_tensor in = segc_tensor_view(
        windows, segc_shape5(count, 1, plan->roi[0], plan->roi[1], plan->roi[2]),
        SEGC_F32, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
    segc_tensor out;
    double t0 = segc_now();
    SEGC_TRY(predict(predict_context, &in, &out));
    double t1 = segc_now();
    const segc_shape want = segc_shape5(count, config->channels, plan->roi[0],
                                        plan->roi[1], plan->roi[2]);
    SEGC_TRY(segc_tensor_expect_shape(&out, want, "sliding window: network output"));
    if (out.dtype != SEGC_F32 || out.layout != SEGC_LAYOUT_NDHWC)
      return SEGC_FAIL(SEGC_ERR_INTERNAL,
                       "sliding window: the network output must be f32 NDHWC");
    SEGC_TRY(segc_backend_require("sliding window", out.device, out.dtype));
    for (int n = 0; n < count; ++n) {
      window_start(plan, b0 + n, start);
      SEGC_TRY(open_cells(&acc, start));
      blend_window(&acc, start, weights,
                   (const float *)out.data + n * window_voxels * config->channels);
    }
    double t2 = segc_now();
    for (int n = 0; n < count; ++n) {
      window_start(plan, b0 + n, start);
      close_cells(&acc, last, b0 + n, start, labels, closing);
    }
    double t3 = segc_now();
    stats->predict_seconds += t1 - t0;
    stats->blend_seconds += t2 - t1;
    stats->finalize_seconds += t3 - t2;
    if (config->progress)
      config->progress(config->progress_context, b0 + count, plan->windows);
  }
  if (acc.live != 0)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "sliding window: %lld cells never finished",
                     (long long)acc.live);
  stats->windows = plan->windows;
  stats->peak_cells = acc.peak_live;
  stats->total_cells = plan->cells;
  stats->accumulator_bytes = sizeof(float) * acc.cell_floats * (size_t)peak;
  return SEGC_OK;
}

segc_status segc_sliding_window_argmax(const segc_sw_config *config,
                                       segc_predict_fn predict,
                                       void *predict_context,
                                       const segc_volume *image,
                                       segc_arena *scratch,
                                       segc_volume *labels,
                                       segc_sw_stats *stats) {
  segc_sw_stats local_stats;
  if (!stats) stats = &local_stats;
  memset(stats, 0, sizeof *stats);
  if (image->dtype != SEGC_F32)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "sliding window: the image must be f32 (got %s)",
                     segc_dtype_name(image->dtype));
  if (config->channels > 256)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "sliding window: %lld channels do not fit u8 labels",
                     (long long)config->channels);
  sw_plan *plan = calloc(1, sizeof *plan);
  if (!plan) return SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: out of memory");
  segc_status status = make_plan(config, image->dim, plan);
  if (status == SEGC_OK) status = segc_volume_alloc(labels, SEGC_U8, image->dim);
  if (status == SEGC_OK) {
    memcpy(labels->affine, image->affine, sizeof labels->affine);
    scratch_list list = {.arena = scratch};
    status = run_windows(config, plan, predict, predict_context, image->data,
                         &list, labels->data, stats);
    give_back(&list);
    if (status != SEGC_OK) segc_volume_free(labels);
  }
  free_plan(plan);
  return status;
}
