// Core pieces: dtype conversions, tensor layouts, arenas, the counter RNG and
// fixed-order reductions.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "core/tensor_ops.h"
#include "util/test_util.h"

static int test_dtypes(void) {
  // bf16 rounds to nearest even: 1 + 2^-8 is a tie between 1 and 1 + 2^-7.
  CHECK(segc_bf16_to_f32(segc_f32_to_bf16(1.0f + 1.0f / 256)) == 1.0f,
        "tie rounds to even");
  CHECK(segc_bf16_to_f32(segc_f32_to_bf16(1.0f + 3.0f / 512)) ==
            1.0f + 1.0f / 128,
        "above the tie rounds up");
  CHECK(isnan(segc_bf16_to_f32(segc_f32_to_bf16(NAN))), "NaN stays NaN");
  CHECK(segc_f16_to_f32(segc_f32_to_f16(0.5f)) == 0.5f, "f16 exact");
  uint8_t u8[3];
  float src[3] = {-5.0f, 127.6f, 300.0f};
  segc_convert(src, SEGC_F32, u8, SEGC_U8, 3);
  CHECK(u8[0] == 0 && u8[1] == 128 && u8[2] == 255, "u8 saturates: %d %d %d",
        u8[0], u8[1], u8[2]);
  CHECK(segc_dtype_parse("bf16") == SEGC_BF16, "parse bf16");
  CHECK(segc_dtype_parse("f64") == -1, "unknown dtype");
  return 0;
}

static int test_layouts(void) {
  const segc_shape s = segc_shape5(2, 3, 2, 3, 4);
  const int64_t n = segc_shape_numel(s);
  float *a = malloc(sizeof(float) * (size_t)n);
  float *b = malloc(sizeof(float) * (size_t)n);
  float *c = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; ++i) a[i] = (float)i;
  segc_tensor ta = segc_tensor_view(a, s, SEGC_F32, SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  segc_tensor tb = segc_tensor_view(b, s, SEGC_F32, SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  segc_tensor tc = segc_tensor_view(c, s, SEGC_F32, SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  CHECK_OK(segc_tensor_copy(&ta, &tb));
  // Element (n=1, c=2, d=1, h=2, w=3) must land where NDHWC puts it.
  int64_t from = segc_tensor_offset(&ta, 1, 2, 1, 2, 3);
  int64_t to = segc_tensor_offset(&tb, 1, 2, 1, 2, 3);
  CHECK(b[to] == a[from], "ndhwc element %g vs %g", b[to], a[from]);
  CHECK(to == (((1 * 2 + 1) * 3 + 2) * 4 + 3) * 3 + 2, "ndhwc offset %lld",
        (long long)to);
  CHECK_OK(segc_tensor_copy(&tb, &tc));
  CHECK(memcmp(a, c, sizeof(float) * (size_t)n) == 0, "round trip");
  segc_tensor wrong = tc;
  wrong.shape.c = 4;
  CHECK_FAILS(segc_tensor_copy(&ta, &wrong), SEGC_ERR_INVALID, "expected");
  free(a);
  free(b);
  free(c);
  return 0;
}

static int test_arena(void) {
  segc_arena arena;
  CHECK_OK(segc_arena_init(&arena, "test", 1024, SEGC_DEVICE_CPU));
  void *p1, *p2, *p3, *p4;
  CHECK_OK(segc_arena_alloc(&arena, 100, &p1));  // 128 bytes
  CHECK_OK(segc_arena_alloc(&arena, 256, &p2));
  CHECK_OK(segc_arena_alloc(&arena, 64, &p3));
  CHECK(((uintptr_t)p2 % SEGC_ARENA_ALIGN) == 0, "aligned");
  CHECK(arena.live_bytes == 128 + 256 + 64, "live %zu", arena.live_bytes);
  segc_arena_free(&arena, p2, 256);
  // A 200-byte block fits in p2's hole: first fit reuses it.
  CHECK_OK(segc_arena_alloc(&arena, 200, &p4));
  CHECK(p4 == p2, "first fit reuses the hole");
  segc_arena_free(&arena, p4, 200);
  segc_arena_free(&arena, p1, 100);
  segc_arena_free(&arena, p3, 64);
  CHECK(arena.free_count == 1, "coalesced back to one range (%d)",
        arena.free_count);
  CHECK(arena.live_bytes == 0, "nothing live");
  CHECK(arena.peak_bytes == 128 + 256 + 64, "peak %zu", arena.peak_bytes);
  CHECK_FAILS(segc_arena_alloc(&arena, 2048, &p1), SEGC_ERR_NOMEM,
              "arena 'test' is full");
  segc_tensor t;
  CHECK_FAILS(segc_arena_tensor(&arena, segc_shape5(1, 0, 1, 1, 1), SEGC_F32,
                                SEGC_LAYOUT_NDHWC, &t),
              SEGC_ERR_INVALID, "bad tensor shape");
  segc_arena_destroy(&arena);
  return 0;
}

static int test_rng(void) {
  // Philox4x32-10 known-answer test (Random123's kat_vectors: counter and key
  // all ones).
  uint32_t out[4];
  segc_philox4x32(0xffffffffffffffffull, 0xffffffffffffffffull,
                  0xffffffffffffffffull, out);
  CHECK(out[0] == 0x408f276du && out[1] == 0x41c83b0eu &&
            out[2] == 0xa20bc7c6u && out[3] == 0x6d5451fdu,
        "philox KAT: %08x %08x %08x %08x", out[0], out[1], out[2], out[3]);
  // Filling in bulk equals drawing one by one, from any starting index.
  float bulk[37];
  segc_rng_fill_uniform(7, 11, 5, 37, bulk);
  int same = 1;
  for (int i = 0; i < 37; ++i)
    same &= bulk[i] == segc_rng_uniform(7, 11, 5 + (uint64_t)i);
  CHECK(same, "bulk fill equals single draws");
  double mean = 0;
  for (int i = 0; i < 10000; ++i) mean += segc_rng_uniform(1, 2, (uint64_t)i);
  mean /= 10000;
  CHECK(fabs(mean - 0.5) < 0.01, "uniform mean %g", mean);
  CHECK(segc_rng_uniform(1, 2, 3) != segc_rng_uniform(1, 3, 3),
        "streams differ");
  return 0;
}

static int test_reduction_threads(void) {
  const int64_t n = 1000003;
  float *x = malloc(sizeof(float) * (size_t)n);
  test_fill_uniform(x, n, -1.0f, 1.0f, 1);
  segc_set_threads(1);
  double one = segc_sum_f32(x, n);
  segc_set_threads(2);
  double two = segc_sum_f32(x, n);
  CHECK(memcmp(&one, &two, sizeof one) == 0, "sum %.17g vs %.17g", one, two);
  free(x);
  return 0;
}

// Fill, add-scalar and accumulate: f32 and bf16, mixed dtypes, a size
// above the parallel threshold, and the refusals (device, shape).
static int test_tensor_ops(void) {
  enum { N = 70000 };
  float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
  segc_bf16 *h = malloc(sizeof(segc_bf16) * N);
  CHECK(a && b && h, "no memory");
  if (!a || !b || !h) {
    free(a);
    free(b);
    free(h);
    return 1;
  }
  const segc_shape s = segc_shape5(1, 1, 1, 1, N);
  segc_tensor ta = segc_tensor_view(a, s, SEGC_F32, SEGC_LAYOUT_NDHWC,
                                    SEGC_DEVICE_CPU);
  segc_tensor tb = segc_tensor_view(b, s, SEGC_F32, SEGC_LAYOUT_NDHWC,
                                    SEGC_DEVICE_CPU);
  segc_tensor th = segc_tensor_view(h, s, SEGC_BF16, SEGC_LAYOUT_NDHWC,
                                    SEGC_DEVICE_CPU);
  CHECK_OK(segc_tensor_fill(&ta, 1.5f));
  CHECK_OK(segc_tensor_add_scalar(&ta, 0.25f));
  for (int i = 0; i < N; ++i) b[i] = (float)i * 0.5f;
  CHECK_OK(segc_tensor_accumulate(&ta, &tb));
  int wrong = 0;
  for (int i = 0; i < N; ++i) wrong += a[i] != 1.75f + (float)i * 0.5f;
  CHECK(wrong == 0, "%d f32 elements wrong", wrong);
  CHECK_OK(segc_tensor_fill(&th, 3.0f));
  CHECK_OK(segc_tensor_accumulate(&th, &tb));  // bf16 += f32, rounded
  wrong = 0;
  for (int i = 0; i < N; ++i)
    wrong += h[i] != segc_f32_to_bf16(3.0f + (float)i * 0.5f);
  CHECK(wrong == 0, "%d bf16 elements wrong", wrong);
  segc_tensor on_gpu = ta;
  on_gpu.device = SEGC_DEVICE_CUDA;
#ifndef SEGC_HAVE_CUDA
  CHECK_FAILS(segc_tensor_fill(&on_gpu, 0.0f), SEGC_ERR_UNSUPPORTED,
              "tensor fill: no cuda kernel for f32 in this build");
  CHECK_FAILS(segc_tensor_accumulate(&ta, &on_gpu), SEGC_ERR_UNSUPPORTED,
              "tensor add: no cuda kernel for f32");
#else
  // A CUDA build has the kernels; a host tensor meets a device one: refused.
  CHECK_FAILS(segc_tensor_accumulate(&ta, &on_gpu), SEGC_ERR_INVALID,
              "tensor accumulate: the tensors differ in layout or device");
#endif
  segc_tensor shorter = tb;
  shorter.shape.w = N - 1;
  CHECK_FAILS(segc_tensor_accumulate(&ta, &shorter), SEGC_ERR_INVALID,
              "tensor accumulate");
  segc_tensor other_layout = tb;
  other_layout.layout = SEGC_LAYOUT_NCDHW;
  CHECK_FAILS(segc_tensor_accumulate(&ta, &other_layout), SEGC_ERR_INVALID,
              "differ in layout or device");
  free(a);
  free(b);
  free(h);
  return 0;
}

int main(void) {
  test_dtypes();
  test_layouts();
  test_arena();
  test_rng();
  test_reduction_threads();
  test_tensor_ops();
  return test_finish("core");
}
