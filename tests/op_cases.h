// The op cases of the table-driven harness (tests/test_ops.c): what a case
// is, and for each op the function that runs a case on a backend's op_env
// and checks it against util/op_reference.c (forward) and central finite
// differences (gradients), with the tolerances of util/op_harness.h.
#ifndef SEGC_TESTS_OP_CASES_H
#define SEGC_TESTS_OP_CASES_H

#include "util/op_harness.h"
#include "layers/conv3d.h"
#include "util/op_reference.h"

typedef enum {
  OP_CONV3D,     // forward, backward data, backward weights (and bias)
  OP_GROUPNORM,  // GroupNorm [+ReLU] [+ residual add]
  OP_RELU_ADD,   // relu(x) + x
  OP_UPSAMPLE,   // trilinear x2
  OP_DROPOUT3D,  // eval: identity; train: channel mask statistics
  OP_DICE_CE,    // MONAI's DiceCE loss
  OP_TENSOR_MATH, // core/tensor_ops.h: sum, read, axpy, scale, finite checks
  OP_ADAMW,       // three AdamW steps over a flat f32 arena, against the CPU
  OP_SLIDING_WINDOW  // blend + argmax of a stand-in network, against the CPU
} op_kind;

typedef struct {
  op_kind op;
  segc_dtype dtype;      // of the input (conv3d: input and weights compute)
  segc_dtype out_dtype;  // conv3d's output
  segc_layout layout;
  segc_shape shape;      // input (conv3d: from `conv`)
  conv_case conv;
  segc_conv3d_algorithm conv_algo;  // the CPU's algorithm for the case
  int groups;            // groupnorm
  bool relu, residual;   // groupnorm
  float p;               // dropout3d
  bool training;         // dropout3d
  int classes_present;   // dice_ce: labels drawn from the first ones
  bool include_background;
  int roi, sw_batch;     // sliding window: window edge, windows per call
} op_case;

// What one case reports, for its summary line: each figure is an error as a
// fraction of its tolerance (<= 1 passes), or a statistic.
typedef struct {
  char text[512];
  int length;
} op_report;

// Runs one case on `env` (its backend); checks with CHECK and returns the
// status of the first call that failed (SEGC_ERR_UNSUPPORTED on a backend
// that does not have the op yet).
typedef segc_status (*op_runner)(op_env *env, const op_case *c,
                                 const char *label, op_report *report);
// Indexed by op_kind.
extern const op_runner op_runners[];

// The runner of OP_TENSOR_MATH (op_cases_tensor.c).
segc_status op_run_tensor_math(op_env *env, const op_case *c,
                               const char *label, op_report *report);

// The runners of OP_ADAMW and OP_SLIDING_WINDOW (op_cases_steps.c); the
// shape gives AdamW's parameter count (its numel) and the sliding window's
// classes (C) and image (D, H, W).
segc_status op_run_adamw(op_env *env, const op_case *c, const char *label,
                         op_report *report);
segc_status op_run_sliding_window(op_env *env, const op_case *c,
                                  const char *label, op_report *report);

#endif
