// Constant windows of the sliding window (private to infer/): a window whose
// every input voxel has the same bit pattern (padding, air outside the
// scanner's field of view) gives the same logits wherever it lies, since the
// network sees no position. sliding_window.c computes the first window of
// such a value, keeps a copy of its logits on the scratch device, and blends
// that copy for every later window of the value: bitwise the logits the
// network would give again, provided a window's logits do not depend on the
// other windows of its batch (tests/test_sliding_window_reuse.c checks this
// for SegResNet).
//
// Values are matched by their bits, never as floats: -0.0 and +0.0, or two
// NaNs, are different inputs.
#ifndef SEGC_INFER_SLIDING_WINDOW_REUSE_H
#define SEGC_INFER_SLIDING_WINDOW_REUSE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/tensor.h"
#include "infer/sliding_window_kernels.h"

// Whether every voxel that `extract` (sliding_window_kernels.h) puts in the
// window at `start` (padded coordinates) has one bit pattern, read from the
// host image without making the window; *bits is that pattern.
bool segc_sw_window_constant(const segc_sw_geometry *g,
                             segc_sw_padding padding, const float *image,
                             const int64_t start[3], uint32_t *bits);

// One kept value: its logits once computed (a (1, K, roi) NDHWC tensor in
// the network's output dtype, in the scratch arena).
typedef struct {
  uint32_t bits;
  int remaining;      // its windows not blended yet
  int fill_sample;    // the batch sample that computes it, or -1
  bool filled;
  segc_tensor logits;
  size_t bytes;
} segc_sw_kept_window;

typedef struct {
  int32_t *kept_index;  // per window (in the glue's order): kept value or -1
  int windows;
  segc_sw_kept_window kept[SEGC_SW_REUSE_MAX];
  int kept_count;
  size_t live_bytes, peak_bytes;
} segc_sw_reuse;

// Finds the constant windows (window w at starts[w]) and keeps the
// `capacity` values that most windows share (only values at least two
// windows share: one window alone gains nothing). With capacity 0 nothing
// is scanned.
segc_status segc_sw_reuse_plan(segc_sw_reuse *reuse, const segc_sw_geometry *g,
                               segc_sw_padding padding, const float *image,
                               const int64_t (*starts)[3], int windows,
                               int capacity);

// Copies sample `sample` of the batch's logits into the kept value `index`
// (memory from `scratch`, on the logits' device).
segc_status segc_sw_reuse_fill(segc_sw_reuse *reuse, int index,
                               segc_arena *scratch, const segc_tensor *batch,
                               int64_t sample);

// One window of kept value `index` was blended: its memory goes back to
// `scratch` after the last one.
void segc_sw_reuse_blended(segc_sw_reuse *reuse, int index,
                           segc_arena *scratch);

// Returns whatever is still kept to `scratch` and frees the plan.
void segc_sw_reuse_free(segc_sw_reuse *reuse, segc_arena *scratch);

#endif
