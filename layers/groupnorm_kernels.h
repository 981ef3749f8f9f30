// GroupNorm kernels over channels-last (NDHWC) memory, f32 or bf16, one
// table per backend (private to layers/): groupnorm_cpu.c and
// groupnorm_cuda.cu. groupnorm.c (the glue) picks the table by the
// input's device and routes NCDHW through a transposed copy.
//
// Reductions run over fixed chunks of voxels of one sample: each chunk's
// per-channel sums are taken in double in voxel order and written to
// partial[n][c][k][2]; callers combine them in a fixed order, so nothing
// depends on the thread count. Work is parallel over (sample, chunk).
#ifndef SEGC_LAYERS_GROUPNORM_KERNELS_H
#define SEGC_LAYERS_GROUPNORM_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

// Elements per reduction chunk: a constant, never derived from the threads.
enum { SEGC_GN_CHUNK_ELEMENTS = 16384 };

// Voxels per chunk for C channels (at least one), and chunks per sample.
int64_t segc_gn_chunk_voxels(int64_t channels);
int64_t segc_gn_chunk_count(segc_shape s);

// The per-(sample, channel) affine map and ReLU the forward applies:
// y = [relu](x * scale[n*C + c] + shift[n*C + c]).
typedef struct {
  const float *scale, *shift;  // (N, C)
  bool relu;
} segc_gn_affine;

// The input gradient as an affine map of (dz, x) per (sample, channel):
// dx = dz_scale * dz + x_scale * (x - center) + offset, all (N, C).
typedef struct {
  const float *dz_scale, *x_scale, *center, *offset;
} segc_gn_grad_map;

// partial[((n*C + c)*chunks + k)*2 + {0,1}] = sums of x and x^2 over chunk k.
// x: (N, C, D, H, W) NDHWC, bf16 when `bf16`, else f32.
void segc_gn_sums(const void *x, bool bf16, segc_shape s, double *partial);

// y = [relu](x * scale + shift); y has x's dtype and may alias x.
void segc_gn_apply(const void *x, void *y, bool bf16, segc_shape s,
                   segc_gn_affine affine);

// From the chunk sums of segc_gn_sums: mean[n*G + g] and rstd[n*G + g] =
// 1/sqrt(var + eps) per (sample, group), and the affine map of the forward,
// scale and shift (N, C), with gamma and beta (C) (NULL: 1 and 0). Chunks
// are combined in chunk order, the channels of a chunk in channel order.
void segc_gn_statistics(const double *partial, segc_shape s, int groups,
                        float eps, const float *gamma, const float *beta,
                        double *mean, double *rstd, float *scale,
                        float *shift);

// partial[n][c][k] = sums of dz and dz * (x - mean[n*G + g(c)]) over chunk
// k, where dz = dy, masked where the forward's ReLU was off
// (x*scale+shift <= 0); mean is per (sample, group) as segc_gn_statistics
// gives it.
void segc_gn_grad_sums(const void *x, const void *dy, bool bf16, segc_shape s,
                       segc_gn_affine affine, int groups, const double *mean,
                       double *partial);

// From the chunk sums of segc_gn_grad_sums: the input-gradient map (its four
// (N, C) arrays one after the other in `coefs`) and the parameter gradients
// added into gamma_grad and beta_grad (C; NULL when not trained). `sums` is
// work memory of 2 N C doubles. Sums run in chunk order, then over samples
// in order.
void segc_gn_grad_finish(const double *partial, segc_shape s, int groups,
                         const double *mean, const double *rstd,
                         const float *gamma, double *sums, float *coefs,
                         float *gamma_grad, float *beta_grad);

// dx = map(dz, x) (stored) or dx += map(dz, x) (accumulate); dx has x's
// dtype.
void segc_gn_grad_input(const void *x, const void *dy, void *dx, bool bf16,
                        segc_shape s, segc_gn_affine affine,
                        segc_gn_grad_map map, bool accumulate);

// One backend's kernels, with the signatures above (the functions above are
// the CPU ones) but returning SEGC_OK or a backend's failure (a CUDA launch)
// with its message. Every array (the statistics, the maps, gamma, beta and
// their gradients, `partial`, `sums`, `coefs`) is memory of the backend's
// device: host memory for the CPU table.
typedef struct {
  segc_status (*sums)(const void *x, bool bf16, segc_shape s, double *partial);
  segc_status (*statistics)(const double *partial, segc_shape s, int groups,
                            float eps, const float *gamma, const float *beta,
                            double *mean, double *rstd, float *scale,
                            float *shift);
  segc_status (*apply)(const void *x, void *y, bool bf16, segc_shape s,
                       segc_gn_affine affine);
  segc_status (*grad_sums)(const void *x, const void *dy, bool bf16,
                           segc_shape s, segc_gn_affine affine, int groups,
                           const double *mean, double *partial);
  segc_status (*grad_finish)(const double *partial, segc_shape s, int groups,
                             const double *mean, const double *rstd,
                             const float *gamma, double *sums, float *coefs,
                             float *gamma_grad, float *beta_grad);
  segc_status (*grad_input)(const void *x, const void *dy, void *dx, bool bf16,
                            segc_shape s, segc_gn_affine affine,
                            segc_gn_grad_map map, bool accumulate);
} segc_gn_kernels;

extern const segc_gn_kernels segc_gn_cpu_kernels;
#ifdef SEGC_HAVE_CUDA
extern const segc_gn_kernels segc_gn_cuda_kernels;
#endif

#endif
