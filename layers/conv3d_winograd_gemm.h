// The panel GEMM kernels of the Winograd convolution (private to
// conv3d_winograd.c).
#ifndef SEGC_LAYERS_CONV3D_WINOGRAD_GEMM_H
#define SEGC_LAYERS_CONV3D_WINOGRAD_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "layers/conv3d_winograd.h"

// The transforms are compiled for the baseline, AVX2 and AVX-512, picked by
// the loader; they only add and scale by 1/2 with no contraction (ISO C), so
// every version gives the same bits.
#define SEGC_WINO_VARIANTS \
  __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))

// Rows are handled 12 at a time: callers pad blocks to a multiple.
enum { SEGC_WINO_ROW_STEP = 12 };

// c[rows][16] (row stride ldc) = (or += when accumulate) a x b[k][16] (row
// stride ldb), where a[r][i] is at a + r * a_rows + i * a_k (a_k 1: row
// major; a_rows 1: stored transposed); rows a multiple of
// SEGC_WINO_ROW_STEP. Each c element is summed over k in order.
typedef void (*conv3d_winograd_panel_fn)(const float *a, int64_t a_rows,
                                         int64_t a_k, const float *b,
                                         int64_t ldb, int64_t k, float *c,
                                         int64_t ldc, int64_t rows,
                                         bool accumulate);

// The fastest kernel this CPU runs.
conv3d_winograd_panel_fn conv3d_winograd_panel(void);

#endif
