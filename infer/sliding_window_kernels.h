// The sliding window's arithmetic, one table per backend (private to
// infer/): sliding_window_cpu.c now, sliding_window_cuda.cu next. The glue
// (sliding_window.c) plans the windows and the cells' lifetimes on the host;
// the kernels touch the data: the window batch, the importance map, the
// cell pool (the accumulator) and the logits all live on the logits'
// device. The image and the labels are host volumes: `extract` moves a
// window to the device, `finalize` brings back only u8 labels.
//
// Slot tables (which pool slot holds which cell) are small host arrays, at
// most a window's cells; a device backend sends them with its launch.
#ifndef SEGC_INFER_SLIDING_WINDOW_KERNELS_H
#define SEGC_INFER_SLIDING_WINDOW_KERNELS_H

#include <stddef.h>
#include <stdint.h>

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

typedef struct {
  // Importance map of a window (roi voxels, f32) into device memory; see
  // segc_sw_importance_map.
  void (*importance)(const int64_t roi[3], segc_sw_blend blend,
                     double sigma_scale, float *map);
  // Copies window `start` (padded coordinates) of the host image into
  // `window` (device, roi voxels, f32); outside the image it replicates
  // border voxels or reads zeros.
  void (*extract)(const segc_sw_geometry *g, segc_sw_padding padding,
                  const float *image, const int64_t start[3], float *window);
  // Zeroes `count` pool cells (slots given) before their first window.
  void (*clear)(const segc_sw_geometry *g, float *pool, const int32_t *slots,
                int64_t count);
  // For the window at `start`: cell[v][k] += weights[v] * logits[v][k] and
  // cell[v][K] += weights[v]. logits: one window (1, K, roi) NDHWC on the
  // device, in a dtype the backend table lists for "sliding window".
  void (*blend)(const segc_sw_geometry *g, const int64_t start[3],
                const float *weights, const segc_tensor *logits, float *pool,
                const segc_sw_window_cells *cells);
  // For each of `count` finished cells (index cells[n] in the grid, pool
  // slot slots[n]): divides the sums by the weight sum and writes the argmax
  // over channels (the first maximum wins, as torch.argmax) of the voxels
  // inside the image into the host label volume (u8, dim).
  void (*finalize)(const segc_sw_geometry *g, const float *pool,
                   const int64_t *cells, const int32_t *slots, int64_t count,
                   uint8_t *labels);
} segc_sw_kernels;

extern const segc_sw_kernels segc_sw_cpu_kernels;

#endif
