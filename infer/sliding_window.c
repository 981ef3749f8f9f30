#include "infer/sliding_window.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/parallel.h"
#include "infer/sliding_window_kernels.h"
#include "infer/sliding_window_reuse.h"

enum { kMaxStarts = 4096, kDefaultCell = 8 };

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
  if (config->reuse_constant < 0 || config->reuse_constant > SEGC_SW_REUSE_MAX)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "sliding window: reuse_constant must be in [0, %d], got %d",
                     SEGC_SW_REUSE_MAX, config->reuse_constant);
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

// The scratch arena (on the predictor's device) holds the importance map,
// the window batch, the kept logits of constant windows (f32 at most), the
// cell pool, and a device backend's temporaries of one kernel call at a
// time: at most a window's cells, each a slot (int32) and its u8 labels
// (sliding_window_cuda.cu).
static size_t fixed_bytes(const sw_plan *plan, const segc_sw_config *config) {
  const size_t window = (size_t)(plan->roi[0] * plan->roi[1] * plan->roi[2]);
  const size_t cell_voxels =
      (size_t)(plan->cell[0] * plan->cell[1] * plan->cell[2]);
  return align_up(window * sizeof(float)) +                      // importance
         align_up(window * sizeof(float) * (size_t)config->sw_batch_size) +
         (size_t)config->reuse_constant *
             align_up(window * (size_t)config->channels * sizeof(float)) +
         align_up((size_t)max_cells_per_window(plan) *
                  (sizeof(int32_t) + cell_voxels));
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
                        sizeof(float));
    }
    free(first);
    free(last);
  }
  free_plan(plan);
  return status;
}

// Which cell lives in which pool slot: host bookkeeping, never on a device.
typedef struct {
  int32_t *first, *last;  // per cell: its first and last window
  int32_t *slot;          // per cell: pool slot or -1
  int32_t *free_slots;    // stack of free pool slots
  int64_t free_count;
  int64_t live, peak_live;
  // Per window: its cells' slots, the cells it opens, the cells it closes.
  int32_t *window_slots, *opened, *closing_slots;
  int64_t *closing;
} cell_book;

static void free_book(cell_book *book) {
  free(book->first);
  free(book->last);
  free(book->slot);
  free(book->free_slots);
  free(book->window_slots);
  free(book->opened);
  free(book->closing_slots);
  free(book->closing);
}

static segc_status make_book(const sw_plan *plan, int batch, cell_book *book,
                             int64_t *peak) {
  const size_t cells = (size_t)plan->cells;
  const size_t per_window = (size_t)max_cells_per_window(plan);
  book->first = malloc(sizeof(int32_t) * cells);
  book->last = malloc(sizeof(int32_t) * cells);
  book->slot = malloc(sizeof(int32_t) * cells);
  book->window_slots = malloc(sizeof(int32_t) * per_window);
  book->opened = malloc(sizeof(int32_t) * per_window);
  book->closing_slots = malloc(sizeof(int32_t) * per_window);
  book->closing = malloc(sizeof(int64_t) * per_window);
  if (!book->first || !book->last || !book->slot || !book->window_slots ||
      !book->opened || !book->closing_slots || !book->closing)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: out of memory");
  *peak = plan_lifetimes(plan, batch, book->first, book->last);
  book->free_slots = malloc(sizeof(int32_t) * (size_t)(*peak > 0 ? *peak : 1));
  if (!book->free_slots)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: out of memory");
  for (int64_t c = 0; c < plan->cells; ++c) book->slot[c] = -1;
  for (int64_t s = 0; s < *peak; ++s)
    book->free_slots[s] = (int32_t)(*peak - 1 - s);
  book->free_count = *peak;
  return SEGC_OK;
}

// Gives a slot to each cell of the window that has none yet (the kernels
// then zero those) and lists the slots of all the window's cells.
static segc_status open_cells(const sw_plan *plan, cell_book *book,
                              const int64_t start[3],
                              segc_sw_window_cells *cells,
                              int64_t *opened_count) {
  window_cells(plan, start, cells->lo, cells->hi);
  int64_t n = 0, opened = 0;
  for (int64_t i = cells->lo[0]; i <= cells->hi[0]; ++i)
    for (int64_t j = cells->lo[1]; j <= cells->hi[1]; ++j)
      for (int64_t k = cells->lo[2]; k <= cells->hi[2]; ++k) {
        const int64_t c = (i * plan->grid[1] + j) * plan->grid[2] + k;
        if (book->slot[c] < 0) {
          if (book->free_count == 0)
            return SEGC_FAIL(SEGC_ERR_INTERNAL,
                             "sliding window: cell pool exhausted");
          book->slot[c] = book->free_slots[--book->free_count];
          book->opened[opened++] = book->slot[c];
          if (++book->live > book->peak_live) book->peak_live = book->live;
        }
        book->window_slots[n++] = book->slot[c];
      }
  cells->slots = book->window_slots;
  *opened_count = opened;
  return SEGC_OK;
}

// Lists the cells whose last window is `w` (and their slots), and frees
// their slots for later cells.
static int64_t close_cells(const sw_plan *plan, cell_book *book, int w,
                           const int64_t start[3]) {
  int64_t lo[3], hi[3], count = 0;
  window_cells(plan, start, lo, hi);
  for (int64_t i = lo[0]; i <= hi[0]; ++i)
    for (int64_t j = lo[1]; j <= hi[1]; ++j)
      for (int64_t k = lo[2]; k <= hi[2]; ++k) {
        const int64_t c = (i * plan->grid[1] + j) * plan->grid[2] + k;
        if (book->last[c] != w) continue;
        book->closing[count] = c;
        book->closing_slots[count++] = book->slot[c];
      }
  for (int64_t n = 0; n < count; ++n) {
    book->free_slots[book->free_count++] = book->closing_slots[n];
    book->slot[book->closing[n]] = -1;
    book->live--;
  }
  return count;
}

#ifdef SEGC_HAVE_CUDA
static const segc_sw_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_sw_cpu_kernels, &segc_sw_cuda_kernels);
#else
static const segc_sw_kernels *const kernels_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&segc_sw_cpu_kernels, NULL);
#endif

// The device data: the importance map, the window batch, the cell pool.
typedef struct {
  segc_arena *arena;
  float *weights, *windows, *pool;
  size_t weight_bytes, window_bytes, pool_bytes;
} device_buffers;

static void give_back(device_buffers *d) {
  if (d->pool) segc_arena_free(d->arena, d->pool, d->pool_bytes);
  if (d->windows) segc_arena_free(d->arena, d->windows, d->window_bytes);
  if (d->weights) segc_arena_free(d->arena, d->weights, d->weight_bytes);
}

// The network's output for a batch: the shape asked for, NDHWC, a dtype the
// kernels read, on the accumulator's device.
static segc_status check_logits(const segc_tensor *out, segc_shape want,
                                segc_device device) {
  SEGC_TRY(segc_tensor_expect_shape(out, want, "sliding window: network output"));
  if (out->layout != SEGC_LAYOUT_NDHWC)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "sliding window: the network output must be NDHWC");
  SEGC_TRY(segc_backend_require("sliding window", out->device, out->dtype));
  if (out->device != device)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "sliding window: the network output is on %s, the "
                     "accumulator on %s",
                     segc_device_name(out->device), segc_device_name(device));
  return SEGC_OK;
}

static segc_sw_geometry make_geometry(const sw_plan *plan, int64_t channels) {
  segc_sw_geometry g;
  for (int a = 0; a < 3; ++a) {
    g.dim[a] = plan->dim[a];
    g.pad_before[a] = plan->pad_before[a];
    g.roi[a] = plan->roi[a];
    g.cell[a] = plan->cell[a];
    g.grid[a] = plan->grid[a];
  }
  g.channels = channels;
  g.cell_floats = cell_floats(plan, channels);
  return g;
}

// The constant windows and the values whose logits are kept.
static segc_status plan_reuse(const segc_sw_config *config, const sw_plan *plan,
                              const segc_sw_geometry *g, const float *image,
                              segc_sw_reuse *reuse) {
  int64_t (*starts)[3] = malloc(sizeof *starts * (size_t)plan->windows);
  if (!starts) return SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: out of memory");
  for (int w = 0; w < plan->windows; ++w) window_start(plan, w, starts[w]);
  const segc_status status =
      segc_sw_reuse_plan(reuse, g, config->padding, image,
                         (const int64_t(*)[3])starts, plan->windows,
                         config->reuse_constant);
  free(starts);
  return status;
}

// Cuts the batch's windows that need the network into d->windows: all but
// those of a kept value already computed (or being computed in this batch).
// source[n]: the sample of the network's output that window b0 + n takes,
// or -1 for its kept value's logits. Returns the windows to compute.
static segc_status gather_batch(const segc_sw_config *config,
                                const sw_plan *plan, const segc_sw_geometry *g,
                                const float *image, device_buffers *d,
                                segc_sw_reuse *reuse, int b0, int count,
                                int *source, int *computed) {
  const segc_sw_kernels *kernels = kernels_by_device[d->arena->device];
  const int64_t window_voxels = plan->roi[0] * plan->roi[1] * plan->roi[2];
  *computed = 0;
  for (int n = 0; n < count; ++n) {
    const int kept = reuse->kept_index[b0 + n];
    if (kept >= 0 &&
        (reuse->kept[kept].filled || reuse->kept[kept].fill_sample >= 0)) {
      source[n] = -1;
      continue;
    }
    if (kept >= 0) reuse->kept[kept].fill_sample = *computed;
    int64_t start[3];
    window_start(plan, b0 + n, start);
    SEGC_TRY(kernels->extract(g, config->padding, image, start,
                              d->windows + *computed * window_voxels));
    source[n] = (*computed)++;
  }
  return SEGC_OK;
}

static segc_status run_windows(const segc_sw_config *config,
                               const sw_plan *plan, segc_predict_fn predict,
                               void *predict_context, const float *image,
                               device_buffers *d, cell_book *book,
                               segc_sw_reuse *reuse, int *source,
                               uint8_t *labels, segc_sw_stats *stats) {
  const segc_device device = d->arena->device;
  const segc_sw_kernels *kernels = kernels_by_device[device];
  const segc_sw_geometry g = make_geometry(plan, config->channels);
  const int64_t window_voxels = plan->roi[0] * plan->roi[1] * plan->roi[2];
  const int batch = config->sw_batch_size;
  int64_t peak = 0;
  SEGC_TRY(make_book(plan, batch, book, &peak));
  SEGC_TRY(plan_reuse(config, plan, &g, image, reuse));
  d->weight_bytes = sizeof(float) * (size_t)window_voxels;
  d->window_bytes = sizeof(float) * (size_t)(window_voxels * batch);
  d->pool_bytes = sizeof(float) * g.cell_floats * (size_t)peak;
  SEGC_TRY(segc_arena_alloc(d->arena, d->weight_bytes, (void **)&d->weights));
  SEGC_TRY(segc_arena_alloc(d->arena, d->window_bytes, (void **)&d->windows));
  SEGC_TRY(segc_arena_alloc(d->arena, d->pool_bytes, (void **)&d->pool));
  SEGC_TRY(kernels->importance(plan->roi, config->blend, config->sigma_scale,
                               d->weights));

  for (int b0 = 0; b0 < plan->windows; b0 += batch) {
    const int count = b0 + batch <= plan->windows ? batch : plan->windows - b0;
    int computed = 0;
    SEGC_TRY(gather_batch(config, plan, &g, image, d, reuse, b0, count, source,
                          &computed));
    segc_tensor out;
    memset(&out, 0, sizeof out);
    double t0 = segc_now();
    if (computed > 0) {
      segc_tensor in = segc_tensor_view(
          d->windows,
          segc_shape5(computed, 1, plan->roi[0], plan->roi[1], plan->roi[2]),
          SEGC_F32, SEGC_LAYOUT_NDHWC, device);
      SEGC_TRY(predict(predict_context, &in, &out));
    }
    double t1 = segc_now();
    if (computed > 0)
      SEGC_TRY(check_logits(&out,
                            segc_shape5(computed, config->channels,
                                        plan->roi[0], plan->roi[1],
                                        plan->roi[2]),
                            device));
    for (int k = 0; k < reuse->kept_count; ++k) {
      if (reuse->kept[k].fill_sample < 0) continue;
      SEGC_TRY(segc_sw_reuse_fill(reuse, k, d->arena, &out,
                                  reuse->kept[k].fill_sample));
      reuse->kept[k].fill_sample = -1;
    }
    int64_t start[3];
    for (int n = 0; n < count; ++n) {
      window_start(plan, b0 + n, start);
      segc_sw_window_cells cells;
      int64_t opened = 0;
      SEGC_TRY(open_cells(plan, book, start, &cells, &opened));
      SEGC_TRY(kernels->clear(d->arena, &g, d->pool, book->opened, opened));
      const int kept = reuse->kept_index[b0 + n];
      const segc_tensor window_logits =
          source[n] >= 0 ? segc_tensor_sample(&out, source[n])
                         : reuse->kept[kept].logits;
      SEGC_TRY(kernels->blend(d->arena, &g, start, d->weights, &window_logits,
                              d->pool, &cells));
      if (source[n] < 0) stats->windows_reused++;
      if (kept >= 0) segc_sw_reuse_blended(reuse, kept, d->arena);
    }
    double t2 = segc_now();
    for (int n = 0; n < count; ++n) {
      window_start(plan, b0 + n, start);
      const int64_t closing = close_cells(plan, book, b0 + n, start);
      SEGC_TRY(kernels->finalize(d->arena, &g, d->pool, book->closing,
                                 book->closing_slots, closing, labels));
    }
    double t3 = segc_now();
    stats->predict_seconds += t1 - t0;
    stats->blend_seconds += t2 - t1;
    stats->finalize_seconds += t3 - t2;
    if (config->progress)
      config->progress(config->progress_context, b0 + count, plan->windows);
  }
  if (book->live != 0)
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "sliding window: %lld cells never finished",
                     (long long)book->live);
  stats->windows = plan->windows;
  stats->reuse_bytes = reuse->peak_bytes;
  stats->peak_cells = book->peak_live;
  stats->total_cells = plan->cells;
  stats->accumulator_bytes = d->pool_bytes;
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
  SEGC_TRY(segc_backend_require_device("sliding window", scratch->device));
  sw_plan *plan = calloc(1, sizeof *plan);
  if (!plan) return SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: out of memory");
  segc_status status = make_plan(config, image->dim, plan);
  if (status == SEGC_OK) status = segc_volume_alloc(labels, SEGC_U8, image->dim);
  if (status == SEGC_OK) {
    memcpy(labels->affine, image->affine, sizeof labels->affine);
    device_buffers d = {.arena = scratch};
    cell_book book = {0};
    segc_sw_reuse reuse = {0};
    int *source = malloc(sizeof(int) * (size_t)config->sw_batch_size);
    status = source ? run_windows(config, plan, predict, predict_context,
                                  image->data, &d, &book, &reuse, source,
                                  labels->data, stats)
                    : SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: out of memory");
    segc_sw_reuse_free(&reuse, scratch);
    give_back(&d);
    free_book(&book);
    free(source);
    if (status != SEGC_OK) segc_volume_free(labels);
  }
  free_plan(plan);
  return status;
}
