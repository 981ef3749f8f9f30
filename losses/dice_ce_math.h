// The per-voxel and per-(sample, class) formulas of the fused DiceCE loss,
// written once for both compilers (core/host_device.h): the CPU kernels
// (dice_ce_tile.h, dice_ce_cpu.c) and the CUDA kernels (dice_ce_cuda.cu) run
// these, so both take the same softmax and the same gradient coefficients.
//
// Only +, *, / and bit operations, no sum reordered; neither compiler
// contracts a*b+c into an FMA (C11 on GCC, --fmad=false on nvcc).
#ifndef SEGC_LOSSES_DICE_CE_MATH_H
#define SEGC_LOSSES_DICE_CE_MATH_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/host_device.h"

// exp(x) for x <= 0 in f32 with only +, *, and bit operations, so loops over
// it vectorise and give the same bits on every CPU and on the GPU: x = n ln2
// + r with |r| <= ln2/2 (ln2 split in two so n*ln2_hi is exact), e^r by its
// Taylor series to r^7 (truncation below 1e-8 relative), times 2^n built in
// the exponent bits. Inputs below -87 give exp(-87) ~ 1.6e-38 instead of a
// smaller number: irrelevant next to the max term 1 of a softmax sum.
SEGC_HOST_DEVICE static inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float round_magic = 12582912.0f;  // 1.5 * 2^23: rounds to an integer
  const float shifted = x * 1.44269504f + round_magic;
  const float n = shifted - round_magic;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float e = 1.0f / 5040.0f;
  e = e * r + 1.0f / 720.0f;
  e = e * r + 1.0f / 120.0f;
  e = e * r + 1.0f / 24.0f;
  e = e * r + 1.0f / 6.0f;
  e = e * r + 0.5f;
  e = e * r + 1.0f;
  e = e * r + 1.0f;
  uint32_t bits;
  memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - 0x4B400000u + 127u) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return e * scale;
}

// The backward's coefficients of one (sample, class) i, already scaled by
// the loss gradient g: the Dice derivative w.r.t. p_c is b + a*y_c, so
// dice_a = g*a, dice_b = g*b and coef = g*b + ce_scale (ce_scale = g *
// lambda_ce / (N V)). d dice_mean / d p_c at a voxel = -w [2 y_c / D -
// (2 I + s_nr) / D^2], w = lambda_dice / (N * classes used), D = G + P +
// s_dr; classes before the first counted one get 0.
SEGC_HOST_DEVICE static inline void segc_dice_ce_coefficient(
    double intersection, double pred_sum, double label_count, bool counted,
    double w, double smooth_nr, double smooth_dr, float loss_grad,
    double ce_scale, float *dice_a, float *dice_b, float *coef) {
  double a = 0.0, b = 0.0;
  if (counted) {
    const double denom = label_count + pred_sum + smooth_dr;
    a = -w * 2.0 / denom;
    b = w * (2.0 * intersection + smooth_nr) / (denom * denom);
  }
  *dice_a = (float)((double)loss_grad * a);
  *dice_b = (float)((double)loss_grad * b);
  *coef = (float)((double)loss_grad * b + ce_scale);
}

#endif
