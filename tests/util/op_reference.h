// Naive double-precision references of the ops, shared by the per-op tests
// (test_conv3d, test_groupnorm, test_upsample, test_dice_ce) and the
// table-driven op harness (test_ops). Each is written straight from the
// definition it restates (PyTorch / MONAI), with no regard for speed.
#ifndef SEGC_TESTS_OP_REFERENCE_H
#define SEGC_TESTS_OP_REFERENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tensor.h"
#include "losses/dice_ce.h"

// Storage offset of logical element (n, c, d, h, w) for a layout.
int64_t op_offset(segc_shape s, segc_layout layout, int64_t n, int64_t c,
                  int64_t d, int64_t h, int64_t w);

// ---- conv3d: NCDHW input (n, cin, d, h, w), OIDHW weights, cubic kernel k,
// stride s, padding p on every side.
typedef struct {
  int64_t n, cin, cout, d, h, w;
  int k, s, p;
  bool bias;
} conv_case;

// The naive convolution, NCDHW in double. b may be NULL.
void reference_conv(const conv_case *c, const double *x, const double *w,
                    const double *b, double *y);

// ---- GroupNorm(+ReLU), nn.GroupNorm: mean and population variance (two
// passes) per (sample, group), y = [relu](gamma (x - mean) / sqrt(var + eps)
// + beta).
typedef struct {
  segc_shape shape;
  segc_layout layout;
  int groups;
  double eps;
  bool relu;
  bool residual;  // y = gn(x) + x (the tests check dx accumulates)
} gn_case;

// All arrays in the case's storage order; `slope` (optional) gets
// gamma / sqrt(var + eps) and `z` (optional) the value before the ReLU.
void gn_reference(const gn_case *gc, const double *x, const double *gamma,
                  const double *beta, double *y, double *z, double *slope);

// With ReLU: moves x until every pre-activation is at least 0.1 from 0, so
// finite differences (which move it by ~1e-3) never cross the kink. x, gamma
// and beta are f32 (x in the case's storage order); returns the smallest
// |pre-activation| left.
double gn_move_from_kink(const gn_case *gc, float *x, const float *gamma,
                         const float *beta);

// ---- Trilinear x2 upsampling, align_corners=False (PyTorch: source
// coordinate (o + 0.5)/2 - 0.5 clamped at 0, upper neighbour clamped to the
// border). x has shape s (storage order of `layout`); y = factor * up(x),
// shape (N, C, 2D, 2H, 2W), same layout.
void upsample_reference(segc_shape s, segc_layout layout, double factor,
                        const double *x, double *y);

// ---- MONAI's DiceCELoss(to_onehot_y=True, softmax=True), with an explicit
// one-hot tensor and an explicit softmax tensor.
typedef struct {
  segc_shape shape;       // logits (N, K, D, H, W)
  segc_layout layout;     // memory order of the logits and their gradient
  const uint8_t *labels;  // (N, V)
  segc_dice_ce_config config;
} dice_ce_problem;

// Memory index of logit (n, class c, voxel v) in the problem's layout.
int64_t dice_ce_logit_index(const dice_ce_problem *p, int64_t n, int64_t c,
                            int64_t v);
// The loss at logits x (the problem's memory order); dice_out and ce_out
// (optional) receive the two terms before their lambdas.
double dice_ce_reference(const dice_ce_problem *p, const double *x,
                         double *dice_out, double *ce_out);

#endif
