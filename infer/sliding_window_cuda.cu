// The sliding window's CUDA kernels (contract in sliding_window_kernels.h,
// glue in sliding_window.c), on cudaStreamPerThread. The importance map and
// each window are made on the host (the CPU's code) and copied in; the
// blend and the argmax run on the device with the CPU's formulas
// (segc_sw_pool_offset, segc_sw_argmax), so the accumulator and the labels
// are the CPU's; only the u8 labels of finished cells come back.
//
// Windows are blended one after another on one stream, and within a window
// every voxel owns its own accumulator entries: no atomics, a fixed order.
#include <stdlib.h>

#include "core/cuda_ops.cuh"

extern "C" {
#include "infer/sliding_window_kernels.h"
}

static const char *const op_name = "sliding window";

// Host memory for a staging copy, or the message.
static segc_status host_alloc(size_t bytes, void **out) {
  *out = malloc(bytes > 0 ? bytes : 1);
  if (!*out)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: out of host memory (%zu bytes)",
                     op_name, bytes);
  return SEGC_OK;
}

// Copies host memory to the device and waits (the host buffer is freed
// right after).
static segc_status upload(void *device, const void *host, size_t bytes) {
  SEGC_CUDA_CALL(op_name, cudaMemcpyAsync(device, host, bytes,
                                          cudaMemcpyHostToDevice,
                                          SEGC_CUDA_STREAM));
  SEGC_CUDA_SYNC(op_name);
  return SEGC_OK;
}

static segc_status cuda_importance(const int64_t roi[3], segc_sw_blend blend,
                                   double sigma_scale, float *map) {
  const size_t bytes = sizeof(float) * (size_t)(roi[0] * roi[1] * roi[2]);
  void *host;
  SEGC_TRY(host_alloc(bytes, &host));
  segc_sw_importance_map(roi, blend, sigma_scale, (float *)host);
  const segc_status status = upload(map, host, bytes);
  free(host);
  return status;
}

static segc_status cuda_extract(const segc_sw_geometry *g,
                                segc_sw_padding padding, const float *image,
                                const int64_t start[3], float *window) {
  const size_t bytes = sizeof(float) * (size_t)(g->roi[0] * g->roi[1] *
                                                g->roi[2]);
  void *host;
  SEGC_TRY(host_alloc(bytes, &host));
  segc_sw_extract_host(g, padding, image, start, (float *)host);
  const segc_status status = upload(window, host, bytes);
  free(host);
  return status;
}

// One thread per float of the `count` cells (slots given): zero.
__global__ void clear_kernel(float *pool, const int32_t *slots, int64_t count,
                             size_t cell_floats) {
  SEGC_CUDA_FOR(i, count * (int64_t)cell_floats) {
    const int64_t n = i / (int64_t)cell_floats;
    pool[(size_t)slots[n] * cell_floats + (size_t)(i % (int64_t)cell_floats)] =
        0.0f;
  }
}

static segc_status cuda_clear(segc_arena *scratch, const segc_sw_geometry *g,
                              float *pool, const int32_t *slots,
                              int64_t count) {
  if (count == 0) return SEGC_OK;
  const size_t bytes = sizeof(int32_t) * (size_t)count;
  void *device_slots;
  SEGC_TRY(segc_arena_alloc(scratch, bytes, &device_slots));
  segc_status status = [&]() -> segc_status {
    SEGC_CUDA_CALL(op_name, cudaMemcpyAsync(device_slots, slots, bytes,
                                            cudaMemcpyHostToDevice,
                                            SEGC_CUDA_STREAM));
    SEGC_CUDA_LAUNCH(op_name, clear_kernel,
                     segc_cuda_blocks(count * (int64_t)g->cell_floats),
                     SEGC_CUDA_THREADS, pool, (const int32_t *)device_slots,
                     count, g->cell_floats);
    return SEGC_OK;
  }();
  segc_arena_free(scratch, device_slots, bytes);  // stream order
  return status;
}

// One thread per (window voxel v, k in 0..K): entry k of the voxel's
// accumulator += logit k * weight (k < K), or += weight (k = K).
__global__ void blend_kernel(segc_sw_geometry g, int64_t s0, int64_t s1,
                             int64_t s2, const float *weights,
                             const void *logits, segc_dtype dtype,
                             float *pool, segc_sw_window_cells cells) {
  const int64_t K = g.channels;
  const int64_t r1 = g.roi[1], r2 = g.roi[2];
  const int64_t total = g.roi[0] * r1 * r2 * (K + 1);
  SEGC_CUDA_FOR(i, total) {
    const int64_t k = i % (K + 1), v = i / (K + 1);
    const int64_t c = v % r2, b = v / r2 % r1, a = v / (r1 * r2);
    float *dst = pool + segc_sw_pool_offset(&g, cells.lo, cells.hi,
                                            cells.slots, s0 + a, s1 + b,
                                            s2 + c);
    const float w = weights[v];
    if (k < K)
      dst[k] += segc_cuda_load(logits, dtype, v * K + k) * w;
    else
      dst[K] += w;
  }
}

static segc_status cuda_blend(segc_arena *scratch, const segc_sw_geometry *g,
                              const int64_t start[3], const float *weights,
                              const segc_tensor *logits, float *pool,
                              const segc_sw_window_cells *cells) {
  int64_t table = 1;
  for (int a = 0; a < 3; ++a) table *= cells->hi[a] - cells->lo[a] + 1;
  const size_t bytes = sizeof(int32_t) * (size_t)table;
  void *slots;
  SEGC_TRY(segc_arena_alloc(scratch, bytes, &slots));
  segc_sw_window_cells on_device = *cells;
  on_device.slots = (const int32_t *)slots;
  const int64_t total = g->roi[0] * g->roi[1] * g->roi[2] * (g->channels + 1);
  segc_status status = [&]() -> segc_status {
    SEGC_CUDA_CALL(op_name, cudaMemcpyAsync(slots, cells->slots, bytes,
                                            cudaMemcpyHostToDevice,
                                            SEGC_CUDA_STREAM));
    SEGC_CUDA_LAUNCH(op_name, blend_kernel, segc_cuda_blocks(total),
                     SEGC_CUDA_THREADS, *g, start[0], start[1], start[2],
                     weights, logits->data, logits->dtype, pool, on_device);
    return SEGC_OK;
  }();
  segc_arena_free(scratch, slots, bytes);  // stream order: safe to reuse
  return status;
}

// One thread per (finished cell n, voxel of the cell): its label, into
// out[n * cell voxels + voxel].
__global__ void argmax_kernel(segc_sw_geometry g, const float *pool,
                              const int32_t *slots, int64_t count,
                              uint8_t *out) {
  const int64_t cell_voxels = g.cell[0] * g.cell[1] * g.cell[2];
  SEGC_CUDA_FOR(i, count * cell_voxels) {
    const int64_t n = i / cell_voxels, v = i % cell_voxels;
    out[i] = segc_sw_argmax(pool + (size_t)slots[n] * g.cell_floats +
                                (size_t)v * (size_t)(g.channels + 1),
                            g.channels);
  }
}

// The cells' labels (out) into the host label volume, voxels inside the
// image only (finalize_cell in sliding_window_cpu.c).
static void scatter_labels(const segc_sw_geometry *g, const int64_t *cells,
                           int64_t count, const uint8_t *out,
                           uint8_t *labels) {
  const int64_t cell_voxels = g->cell[0] * g->cell[1] * g->cell[2];
  for (int64_t n = 0; n < count; ++n) {
    const int64_t cell = cells[n];
    const int64_t ci = cell / (g->grid[1] * g->grid[2]);
    const int64_t cj = (cell / g->grid[2]) % g->grid[1];
    const int64_t ck = cell % g->grid[2];
    for (int64_t a = 0; a < g->cell[0]; ++a) {
      const int64_t i = ci * g->cell[0] + a - g->pad_before[0];
      if (i < 0 || i >= g->dim[0]) continue;
      for (int64_t b = 0; b < g->cell[1]; ++b) {
        const int64_t j = cj * g->cell[1] + b - g->pad_before[1];
        if (j < 0 || j >= g->dim[1]) continue;
        for (int64_t c = 0; c < g->cell[2]; ++c) {
          const int64_t k = ck * g->cell[2] + c - g->pad_before[2];
          if (k < 0 || k >= g->dim[2]) continue;
          labels[(i * g->dim[1] + j) * g->dim[2] + k] =
              out[n * cell_voxels + (a * g->cell[1] + b) * g->cell[2] + c];
        }
      }
    }
  }
}

static segc_status finalize_with(const segc_sw_geometry *g, const float *pool,
                                 const int32_t *slots, int64_t count,
                                 int32_t *device_slots, uint8_t *device_out,
                                 uint8_t *host_out) {
  const int64_t cell_voxels = g->cell[0] * g->cell[1] * g->cell[2];
  SEGC_CUDA_CALL(op_name, cudaMemcpyAsync(device_slots, slots,
                                          sizeof(int32_t) * (size_t)count,
                                          cudaMemcpyHostToDevice,
                                          SEGC_CUDA_STREAM));
  SEGC_CUDA_LAUNCH(op_name, argmax_kernel,
                   segc_cuda_blocks(count * cell_voxels), SEGC_CUDA_THREADS,
                   *g, pool, device_slots, count, device_out);
  SEGC_CUDA_CALL(op_name, cudaMemcpyAsync(host_out, device_out,
                                          (size_t)(count * cell_voxels),
                                          cudaMemcpyDeviceToHost,
                                          SEGC_CUDA_STREAM));
  SEGC_CUDA_SYNC(op_name);
  return SEGC_OK;
}

static segc_status cuda_finalize(segc_arena *scratch,
                                 const segc_sw_geometry *g, const float *pool,
                                 const int64_t *cells, const int32_t *slots,
                                 int64_t count, uint8_t *labels) {
  if (count == 0) return SEGC_OK;
  const size_t label_bytes =
      (size_t)(count * g->cell[0] * g->cell[1] * g->cell[2]);
  const size_t slot_bytes = sizeof(int32_t) * (size_t)count;
  const size_t bytes = slot_bytes + label_bytes;
  void *device;
  SEGC_TRY(segc_arena_alloc(scratch, bytes, &device));
  void *host = NULL;
  segc_status status = host_alloc(label_bytes, &host);
  if (status == SEGC_OK)
    status = finalize_with(g, pool, slots, count, (int32_t *)device,
                           (uint8_t *)device + slot_bytes, (uint8_t *)host);
  if (status == SEGC_OK)
    scatter_labels(g, cells, count, (const uint8_t *)host, labels);
  free(host);
  segc_arena_free(scratch, device, bytes);
  return status;
}

extern "C" const segc_sw_kernels segc_sw_cuda_kernels = {
    cuda_importance, cuda_extract, cuda_clear, cuda_blend, cuda_finalize};
