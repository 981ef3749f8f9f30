// What running kernels on one device needs, in one place that the graph
// carries (graph->backend) instead of process globals: the device, the
// scratch arena for op temporaries, oneDNN's engine, stream and primitive
// cache on the CPU, and on CUDA the backend's state (core/cuda_state.h:
// cuDNN and cuBLAS handles bound to cudaStreamPerThread, cached plans).
//
// Whoever runs a network owns one (the trainer, the predictor, a benchmark,
// a test) and may share it between graphs on the same device, so that their
// primitives are built once: the trainer's validation runs on the trainer's.
#ifndef SEGC_CORE_BACKEND_CONTEXT_H
#define SEGC_CORE_BACKEND_CONTEXT_H

#include "core/arena.h"
#include "core/dnnl_context.h"
#include "core/status.h"
#include "core/tensor.h"

typedef struct {
  segc_device device;
  segc_arena *scratch;   // op temporaries, on `device`; not owned
  segc_dnnl_state dnnl;  // CPU: engine, stream, primitives (else zeroed)
  void *cuda;            // CUDA: segc_cuda_state (core/cuda_state.h), else NULL
} segc_backend_context;

// Sets up the backend of `device` over a caller-owned scratch arena on the
// same device. A device without a backend in this build is refused with the
// supports table's message ("backend context: no cuda kernel in this build");
// a CUDA build without a device answers "backend context: no CUDA device
// found (cudaGetDeviceCount: ...)". The CUDA state is made on the calling
// thread's current device (segc_cuda_set_device is the caller's business).
segc_status segc_backend_context_init(segc_backend_context *context,
                                      segc_device device,
                                      segc_arena *scratch);
void segc_backend_context_destroy(segc_backend_context *context);

#endif
