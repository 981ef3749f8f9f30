// The sliding window's arithmetic, one table per backend (private to
// infer/): sliding_window_cpu.c and sliding_window_cuda.cu. The glue
// (sliding_window.c) plans the windows and the cells' lifetimes on the host;
// the kernels touch the data: the window batch, the importance map, the
// cell pool (the accumulator) and the logits all live on the logits'
// device. The image and the labels are host volumes: `extract` moves a
// window to the device, `finalize` brings back only u8 labels.
//
// Slot tables (which pool slot holds which cell) are small host arrays, at
// most a window's cells; a device backend copies them to its scratch
// before the launch.
#ifndef SEGC_INFER_SLIDING_WINDOW_KERNELS_H
#define SEGC_INFER_SLIDING_WINDOW_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/host_device.h"
#include "core/tensor.h"
#include "infer/sliding_window.h"

// The window and cell layout the kernels need (all in voxels).
typedef struct {
  int64_t dim[3];         // image
  int64_t pad_before[3];  // padding before the image on each axis
  int64_t roi[3];         // window
  int64_t cell[3];        // accumulator cell
  int64_t grid[3];        // cells per axis over the padded volume
  int64_t channels;       // K
  size_t cell_floats;     // cell voxels x (K + 1): K sums and the weight sum
} segc_sw_geometry;

// The cells a window touches, [lo, hi] per axis, and the pool slot of each
// (host array, (hi - lo + 1) per axis, last axis fastest).
typedef struct {
  int64_t lo[3], hi[3];
  const int32_t *slots;
} segc_sw_window_cells;

// Where voxel (pa, pb, pc) of the padded volume keeps its K sums and its
// weight sum, in two steps so that the CPU takes the first once per row:
// for the row (pa, pb), the slots of its cells along the last axis (from
// the window's cell table `slots`, cells [lo, hi] per axis, last axis
// fastest) and the row's voxel offset inside a cell; then the voxel's float
// offset in the pool. One formula for the CPU and the CUDA kernels.
SEGC_HOST_DEVICE static inline const int32_t *segc_sw_row_slots(
    const segc_sw_geometry *g, const int64_t lo[3], const int64_t hi[3],
    const int32_t *slots, int64_t pa, int64_t pb, int64_t *row_offset) {
  const int64_t n1 = hi[1] - lo[1] + 1, n2 = hi[2] - lo[2] + 1;
  *row_offset = ((pa % g->cell[0]) * g->cell[1] + pb % g->cell[1]) *
                g->cell[2];
  return slots + ((pa / g->cell[0] - lo[0]) * n1 + (pb / g->cell[1] - lo[1])) *
                     n2;
}

SEGC_HOST_DEVICE static inline size_t segc_sw_row_voxel_offset(
    const segc_sw_geometry *g, const int64_t lo[3], const int32_t *row_slots,
    int64_t row_offset, int64_t pc) {
  return (size_t)row_slots[pc / g->cell[2] - lo[2]] * g->cell_floats +
         (size_t)(row_offset + pc % g->cell[2]) * (size_t)(g->channels + 1);
}

SEGC_HOST_DEVICE static inline size_t segc_sw_pool_offset(
    const segc_sw_geometry *g, const int64_t lo[3], const int64_t hi[3],
    const int32_t *slots, int64_t pa, int64_t pb, int64_t pc) {
  int64_t row_offset;
  const int32_t *row_slots =
      segc_sw_row_slots(g, lo, hi, slots, pa, pb, &row_offset);
  return segc_sw_row_voxel_offset(g, lo, row_slots, row_offset, pc);
}

// The label of one accumulated voxel (K sums, then the weight sum): the
// argmax over channels of sum / weight, the first maximum winning, as
// torch.argmax.
SEGC_HOST_DEVICE static inline uint8_t segc_sw_argmax(const float *v,
                                                      int64_t channels) {
  const float count = v[channels];
  int64_t best = 0;
  float best_value = v[0] / count;
  for (int64_t ch = 1; ch < channels; ++ch) {
    const float value = v[ch] / count;
    if (value > best_value) {
      best_value = value;
      best = ch;
    }
  }
  return (uint8_t)best;
}

// Each returns SEGC_OK or a backend's failure (a CUDA copy or launch) with
// its message. `scratch` is the accumulator's arena (the device's), for a
// backend's temporaries.
typedef struct {
  // Importance map of a window (roi voxels, f32) into device memory; see
  // segc_sw_importance_map.
  segc_status (*importance)(const int64_t roi[3], segc_sw_blend blend,
                            double sigma_scale, float *map);
  // Copies window `start` (padded coordinates) of the host image into
  // `window` (device, roi voxels, f32); outside the image it replicates
  // border voxels or reads zeros.
  segc_status (*extract)(const segc_sw_geometry *g, segc_sw_padding padding,
                         const float *image, const int64_t start[3],
                         float *window);
  // Zeroes `count` pool cells (slots given) before their first window.
  segc_status (*clear)(segc_arena *scratch, const segc_sw_geometry *g,
                       float *pool, const int32_t *slots, int64_t count);
  // For the window at `start`: cell[v][k] += weights[v] * logits[v][k] and
  // cell[v][K] += weights[v]. logits: one window (1, K, roi) NDHWC on the
  // device, in a dtype the backend table lists for "sliding window".
  segc_status (*blend)(segc_arena *scratch, const segc_sw_geometry *g,
                       const int64_t start[3], const float *weights,
                       const segc_tensor *logits, float *pool,
                       const segc_sw_window_cells *cells);
  // For each of `count` finished cells (index cells[n] in the grid, pool
  // slot slots[n]): divides the sums by the weight sum and writes the argmax
  // over channels (segc_sw_argmax) of the voxels inside the image into the
  // host label volume (u8, dim).
  segc_status (*finalize)(segc_arena *scratch, const segc_sw_geometry *g,
                          const float *pool, const int64_t *cells,
                          const int32_t *slots, int64_t count,
                          uint8_t *labels);
} segc_sw_kernels;

// The window gather of `extract` into host memory (the CPU kernel; the CUDA
// kernel stages the window through it).
void segc_sw_extract_host(const segc_sw_geometry *g, segc_sw_padding padding,
                          const float *image, const int64_t start[3],
                          float *window);

extern const segc_sw_kernels segc_sw_cpu_kernels;
#ifdef SEGC_HAVE_CUDA
extern const segc_sw_kernels segc_sw_cuda_kernels;
#endif

#endif
