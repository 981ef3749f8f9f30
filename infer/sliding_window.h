// Sliding-window inference with MONAI's semantics
// (monai/inferers/utils.py sliding_window_inference, mode gaussian), streamed:
// window outputs are blended into an accumulator made of small cells, each
// cell allocated when a window first touches it and turned into labels
// (argmax) as soon as the last window touching it is done. Memory therefore
// grows with the band of windows still open, never with 105 full-volume
// channels; the cells' pool is sized exactly up front by replaying the
// window order.
//
// Per voxel the arithmetic is MONAI's: sum over windows of importance *
// logits, divided by the summed importance, argmax over channels (first
// maximum wins, as torch.argmax). Windows are the ones MONAI places; they are
// visited in an order that keeps the open band small (the last two windows
// of each axis interleaved), which changes MONAI's sums only by float
// rounding. The result does not depend on the cell size: one cell covering
// the whole volume is the unstreamed computation, bitwise.
#ifndef SEGC_INFER_SLIDING_WINDOW_H
#define SEGC_INFER_SLIDING_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/tensor.h"
#include "data/volume.h"

// Runs the network on a batch of windows. windows: (B, 1, r0, r1, r2) NDHWC
// f32 on the scratch arena's device. On success *logits views (B, K, r0, r1,
// r2) NDHWC memory owned by the predictor, valid until its next call, on
// that same device and in any dtype the backend table lists for "sliding
// window" (f32, bf16 or f16 on the CPU): the blending reads it where it is.
typedef segc_status (*segc_predict_fn)(void *context,
                                       const segc_tensor *windows,
                                       segc_tensor *logits);

enum { SEGC_SW_REUSE_MAX = 4, SEGC_SW_REUSE_DEFAULT = 2 };

typedef enum {
  SEGC_SW_GAUSSIAN = 0,  // the bundle's inference (mode "gaussian")
  SEGC_SW_CONSTANT       // MONAI's default, used by the bundle's validation
} segc_sw_blend;

typedef enum {
  SEGC_SW_PAD_REPLICATE = 0,  // the bundle's inference
  SEGC_SW_PAD_ZERO            // MONAI's default "constant" padding, value 0
} segc_sw_padding;

typedef struct {
  int64_t roi[3];        // window size (96, 96, 96)
  segc_sw_blend blend;
  segc_sw_padding padding;  // when the image is smaller than the window
  double overlap;        // 0.25
  int sw_batch_size;     // windows per network call (1)
  double sigma_scale;    // gaussian sigma = sigma_scale * roi (0.125)
  int64_t channels;      // K, the network's output channels
  int64_t cell[3];       // accumulator cell size (0: default 8); a cell as
                         // large as the volume gives the unstreamed result
  // Windows whose input is one value throughout (padding, air outside the
  // scanner's field of view) give the same logits wherever they lie: the
  // logits of up to this many such values are kept (on the scratch device,
  // one window of logits each) and blended again for every later window of
  // the same value, bitwise the result of computing each. 0: every window
  // goes through the network. At most SEGC_SW_REUSE_MAX.
  int reuse_constant;
  // Called after each batch of windows (may be NULL).
  void (*progress)(void *context, int done, int total);
  void *progress_context;
} segc_sw_config;

// The bundle's inference settings: roi 96^3, overlap 0.25, sw_batch_size 1,
// gaussian blending with sigma 0.125, replicate padding; constant windows
// reused (SEGC_SW_REUSE_DEFAULT values).
segc_sw_config segc_sw_default(int64_t channels);

typedef struct {
  int windows;              // all windows placed
  int windows_reused;       // of those, blended from a kept constant window
                            // (windows - windows_reused went through the
                            // network)
  size_t reuse_bytes;       // the kept logits at their peak
  double predict_seconds;   // inside the predictor
  double blend_seconds;     // accumulating window outputs
  double finalize_seconds;  // argmax of finished cells
  size_t accumulator_bytes; // the cell pool (peak live cells x cell bytes)
  int64_t peak_cells, total_cells;
} segc_sw_stats;

// image: f32 host volume (the preprocessed network input). labels:
// allocated here as u8 on the image's grid (affine copied). `scratch` is on
// the predictor's device and holds the window batch, the importance map and
// the cell pool (reserve segc_sw_scratch_bytes): the blending, the
// normalisation and the argmax run there (sliding_window_kernels.h), and
// only the u8 labels come back to the host. A device without sliding-window
// kernels is refused with the backend table's message.
segc_status segc_sliding_window_argmax(const segc_sw_config *config,
                                       segc_predict_fn predict,
                                       void *predict_context,
                                       const segc_volume *image,
                                       segc_arena *scratch,
                                       segc_volume *labels,
                                       segc_sw_stats *stats);

// Bytes segc_sliding_window_argmax will take from `scratch` for this image
// (the kept logits of constant windows counted as f32, the widest dtype).
segc_status segc_sw_scratch_bytes(const segc_sw_config *config,
                                  const int64_t dim[3], size_t *bytes);

// MONAI's window start positions along one axis of (padded) size `size`:
// fills starts[] (up to max_starts) and returns their count.
int segc_sw_axis_starts(int64_t size, int64_t roi, double overlap,
                        int64_t *starts, int max_starts);

// MONAI's importance map for a window, (r0, r1, r2) with r2 fastest, f32 as
// MONAI computes it: ones for constant blending; for gaussian, the product
// of per-axis gaussians clamped below at max(min, 1e-3).
void segc_sw_importance_map(const int64_t roi[3], segc_sw_blend blend,
                            double sigma_scale, float *map);

#endif
