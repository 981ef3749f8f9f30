// The kernels of the fused DiceCE loss, one table per backend (private to
// losses/): dice_ce_cpu.c and dice_ce_cuda.cu. dice_ce.c checks the
// arguments, asks the backend table (core/backend.h) and picks the table by
// the logits' device.
#ifndef SEGC_LOSSES_DICE_CE_KERNELS_H
#define SEGC_LOSSES_DICE_CE_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "losses/dice_ce.h"

// The forward's per-(sample, class) sums, (N, K) each, in host memory.
typedef struct {
  const double *intersection, *pred_sum, *label_count;
} segc_dice_ce_sums;

// The first class the Dice term counts.
static inline int64_t segc_dice_ce_first_class(
    const segc_dice_ce_config *config) {
  return config->include_background ? 0 : 1;
}

typedef struct {
  // Fails (SEGC_ERR_INVALID) on the first label >= classes, naming it.
  segc_status (*check_labels)(const segc_tensor *labels, int64_t classes);
  // Fills the (N, K) sums and *ce_sum, the CE summed over all voxels; the
  // temporaries come from `scratch`.
  segc_status (*sums)(segc_arena *scratch, const segc_tensor *logits,
                      const segc_tensor *labels, double *intersection,
                      double *pred_sum, double *label_count, double *ce_sum);
  // The logits gradient for the loss gradient (the f32 (1,1,1,1,1) tensor
  // `loss_grad` on the logits' device), stored into target, or added when
  // `accumulate`.
  segc_status (*grad)(segc_arena *scratch, const segc_dice_ce_config *config,
                      const segc_tensor *loss_grad, const segc_tensor *logits,
                      const segc_tensor *labels, segc_dice_ce_sums sums,
                      const segc_tensor *target, bool accumulate);
} segc_dice_ce_kernels;

extern const segc_dice_ce_kernels segc_dice_ce_cpu_kernels;
#ifdef SEGC_HAVE_CUDA
extern const segc_dice_ce_kernels segc_dice_ce_cuda_kernels;
#endif

#endif
