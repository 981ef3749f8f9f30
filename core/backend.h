// Which kernels this build has, per backend: one table answering
// (op, device, dtype) -> supported. Ops ask it instead of testing for the
// CPU themselves, so a new backend (CUDA) is added here and in the ops'
// `<op>_cuda.cu` kernel files, not in every op's glue.
//
// A refusal is SEGC_ERR_UNSUPPORTED with one line naming the op, the device
// and the dtype: "groupnorm: no cuda kernel for bf16 in this build".
#ifndef SEGC_CORE_BACKEND_H
#define SEGC_CORE_BACKEND_H

#include <stdbool.h>

#include "core/dtype.h"
#include "core/status.h"
#include "core/tensor.h"

enum { SEGC_DEVICE_COUNT = SEGC_DEVICE_CUDA + 1 };

// "cpu", "cuda" (or "device <n>" for a value outside the enum).
const char *segc_device_name(segc_device device);

// Whether `op` has a kernel for `dtype` on `device` in this build. Op names
// are the ones the ops use in their messages ("groupnorm", "conv3d", ...);
// an op missing from the table has no kernel anywhere.
bool segc_backend_supports(const char *op, segc_device device,
                           segc_dtype dtype);

// SEGC_OK, or the refusal line described above.
segc_status segc_backend_require(const char *op, segc_device device,
                                 segc_dtype dtype);

// SEGC_OK when `op` has a kernel for some dtype on `device` (for checks
// that have no dtype at hand, such as a graph's arenas); else
// "relu: no cuda kernel in this build".
segc_status segc_backend_require_device(const char *op, segc_device device);

// A per-op kernel table indexed by device, for the op's glue:
//   static const my_kernels *const by_device[SEGC_DEVICE_COUNT] =
//       SEGC_BACKEND_KERNELS(&my_cpu_kernels, NULL);
// (NULL where the build has no kernel; ask segc_backend_require first).
#define SEGC_BACKEND_KERNELS(cpu, cuda) \
  { [SEGC_DEVICE_CPU] = (cpu), [SEGC_DEVICE_CUDA] = (cuda) }

#endif
