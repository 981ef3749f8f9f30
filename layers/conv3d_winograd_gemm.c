// The 64 element-wise GEMMs of the Winograd convolution, one panel at a
// time: c[rows][16] (+)= a[rows][k] x b[k][16], with AVX-512 and AVX2 (FMA)
// kernels picked by the CPU at run time and a portable one elsewhere. Each
// element of c is summed over k in order by one thread, so the result does
// not depend on the thread count (it may differ between CPUs in the last
// bit: FMA rounds once).
#include "layers/conv3d_winograd_gemm.h"

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

// 12 rows of 16 columns in 12 AVX-512 registers; b's row is one register.
__attribute__((target("avx512f"))) static void panel_avx512(
    const float *a, int64_t a_rows, int64_t a_k, const float *b, int64_t ldb,
    int64_t k, float *c, int64_t ldc, int64_t rows, bool accumulate) {
  for (int64_t r = 0; r < rows; r += SEGC_WINO_ROW_STEP) {
    const float *ar = a + r * a_rows;
    __m512 acc[12];
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j)
      acc[j] =
          accumulate ? _mm512_loadu_ps(c + (r + j) * ldc) : _mm512_setzero_ps();
    for (int64_t i = 0; i < k; ++i) {
      const __m512 bi = _mm512_loadu_ps(b + i * ldb);
#pragma GCC unroll 12
      for (int j = 0; j < 12; ++j)
        acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(ar[j * a_rows + i * a_k]), bi,
                                 acc[j]);
    }
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) _mm512_storeu_ps(c + (r + j) * ldc, acc[j]);
  }
}

// 6 rows of 16 columns in 12 AVX2 registers, twice per row step.
__attribute__((target("avx2,fma"))) static void panel_avx2(
    const float *a, int64_t a_rows, int64_t a_k, const float *b, int64_t ldb,
    int64_t k, float *c, int64_t ldc, int64_t rows, bool accumulate) {
  for (int64_t r = 0; r < rows; r += 6) {
    const float *ar = a + r * a_rows;
    __m256 lo[6], hi[6];
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      lo[j] =
          accumulate ? _mm256_loadu_ps(c + (r + j) * ldc) : _mm256_setzero_ps();
      hi[j] = accumulate ? _mm256_loadu_ps(c + (r + j) * ldc + 8)
                         : _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < k; ++i) {
      const __m256 b_lo = _mm256_loadu_ps(b + i * ldb);
      const __m256 b_hi = _mm256_loadu_ps(b + i * ldb + 8);
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        const __m256 aj = _mm256_broadcast_ss(ar + j * a_rows + i * a_k);
        lo[j] = _mm256_fmadd_ps(aj, b_lo, lo[j]);
        hi[j] = _mm256_fmadd_ps(aj, b_hi, hi[j]);
      }
    }
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      _mm256_storeu_ps(c + (r + j) * ldc, lo[j]);
      _mm256_storeu_ps(c + (r + j) * ldc + 8, hi[j]);
    }
  }
}

static void panel_portable(const float *a, int64_t a_rows, int64_t a_k,
                           const float *b, int64_t ldb, int64_t k, float *c,
                           int64_t ldc, int64_t rows, bool accumulate) {
  for (int64_t r = 0; r < rows; ++r) {
    float acc[16] = {0};
    if (accumulate)
      for (int j = 0; j < 16; ++j) acc[j] = c[r * ldc + j];
    for (int64_t i = 0; i < k; ++i)
      for (int j = 0; j < 16; ++j)
        acc[j] += a[r * a_rows + i * a_k] * b[i * ldb + j];
    for (int j = 0; j < 16; ++j) c[r * ldc + j] = acc[j];
  }
}

static bool has_avx512(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

static bool has_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// A kernel chosen by conv3d_winograd_use_isa (tests), or NULL: the best.
static _Atomic(conv3d_winograd_panel_fn) forced;
static const char *_Atomic forced_name;

conv3d_winograd_panel_fn conv3d_winograd_panel(void) {
  const conv3d_winograd_panel_fn chosen = forced;
  if (chosen) return chosen;
  if (has_avx512()) return panel_avx512;
  if (has_avx2()) return panel_avx2;
  return panel_portable;
}

const char *conv3d_winograd_isa(void) {
  const char *name = forced_name;
  if (name) return name;
  if (has_avx512()) return "avx512";
  if (has_avx2()) return "avx2";
  return "portable";
}

bool conv3d_winograd_use_isa(const char *isa) {
  if (!isa) {
    forced = NULL;
    forced_name = NULL;
    return true;
  }
  conv3d_winograd_panel_fn panel = NULL;
  if (!strcmp(isa, "avx512") && has_avx512()) panel = panel_avx512;
  if (!strcmp(isa, "avx2") && has_avx2()) panel = panel_avx2;
  if (!strcmp(isa, "portable")) panel = panel_portable;
  if (!panel) return false;
  forced = panel;
  forced_name = !strcmp(isa, "avx512") ? "avx512"
                : !strcmp(isa, "avx2") ? "avx2"
                                       : "portable";
  return true;
}
