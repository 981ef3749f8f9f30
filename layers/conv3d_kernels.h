// conv3d kernels, one table per backend (private to layers/):
// conv3d_cpu.c on oneDNN, conv3d_cuda.cu on cuDNN (CUDA builds). conv3d.c (the
// glue) checks layers, shapes, dtypes and devices, converts an output
// gradient to the compute dtype, and picks the table by the backend
// context's device; a kernel gets checked tensors on that device:
// activations NDHWC in a dtype the backend table gives it (f32 or bf16 on
// the CPU, also f16 on CUDA) of the layer's shapes, the weight an f32 OIDHW
// parameter.
#ifndef SEGC_LAYERS_CONV3D_KERNELS_H
#define SEGC_LAYERS_CONV3D_KERNELS_H

#include <stdbool.h>

#include "core/backend_context.h"
#include "layers/conv3d.h"

typedef struct {
  // The backend's copies of a layer's weights in the formats its
  // convolutions want, made again when param->version changes.
  segc_status (*prepared_new)(segc_conv3d_prepared **out);
  void (*prepared_free)(segc_conv3d_prepared *prepared);
  // y = conv(x) + bias; y's dtype picks the output dtype.
  segc_status (*forward)(segc_backend_context *backend, segc_conv3d *layer,
                         const segc_tensor *x, segc_tensor *y);
  // dx (=, or += when accumulate) = backward-data of dy; dy is in dx's dtype.
  segc_status (*backward_data)(segc_backend_context *backend,
                               segc_conv3d *layer, const segc_tensor *dy,
                               segc_tensor *dx, bool accumulate);
  // weight->grad and bias->grad (where they exist) += their gradients; dy is
  // in x's dtype. Independent of the thread count when the layer's
  // deterministic setting is on (segc_conv3d_set_deterministic).
  segc_status (*backward_weights)(segc_backend_context *backend,
                                  segc_conv3d *layer, const segc_tensor *x,
                                  const segc_tensor *dy);
  // The backend library's name for the implementation of a pass.
  segc_status (*impl_name)(segc_backend_context *backend,
                           const segc_conv3d_config *config, segc_shape input,
                           segc_dtype dtype, segc_dtype out_dtype,
                           segc_conv3d_pass pass, const char **name);
} conv3d_kernels;

extern const conv3d_kernels conv3d_cpu_kernels;
#ifdef SEGC_HAVE_CUDA
extern const conv3d_kernels conv3d_cuda_kernels;
#define CONV3D_CUDA_KERNELS (&conv3d_cuda_kernels)
#else
#define CONV3D_CUDA_KERNELS NULL
#endif

#endif
