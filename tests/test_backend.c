// The backend table (core/backend.h): every op the network runs has CPU
// kernels for f32 and bf16, a CUDA build has the CUDA column (conv3d's
// cuDNN kernels for f32, bf16 and f16) and a CPU-only build none, and a
// refusal names the op, the device and the dtype.
#include "core/backend.h"
#include "util/test_util.h"

static const char *const network_ops[] = {"conv3d", "groupnorm", "add",
                                          "upsample2x", "dropout3d",
                                          "dice_ce"};

int main(void) {
  const int count = (int)(sizeof network_ops / sizeof network_ops[0]);
  for (int i = 0; i < count; ++i) {
    const char *op = network_ops[i];
    CHECK(segc_backend_supports(op, SEGC_DEVICE_CPU, SEGC_F32), "%s f32", op);
    CHECK(segc_backend_supports(op, SEGC_DEVICE_CPU, SEGC_BF16), "%s bf16",
          op);
    CHECK_OK(segc_backend_require(op, SEGC_DEVICE_CPU, SEGC_F32));
    CHECK_OK(segc_backend_require_device(op, SEGC_DEVICE_CPU));
  }
  // The CUDA column (conv3d is checked where its kernels are): in a CUDA
  // build the <op>_cuda.cu kernels, else nothing.
  static const char *const cuda_ops[] = {"tensor copy", "tensor sum",
                                         "tensor finite", "tensor read"};
  for (int i = 0; i < (int)(sizeof cuda_ops / sizeof cuda_ops[0]); ++i) {
#ifdef SEGC_HAVE_CUDA
    CHECK(segc_backend_supports(cuda_ops[i], SEGC_DEVICE_CUDA, SEGC_F32),
          "%s has a cuda kernel", cuda_ops[i]);
#else
    CHECK_FAILS(segc_backend_require(cuda_ops[i], SEGC_DEVICE_CUDA, SEGC_F32),
                SEGC_ERR_UNSUPPORTED, "no cuda kernel for f32 in this build");
#endif
  }
#ifdef SEGC_HAVE_CUDA
  const bool cuda_build = true;
#else
  const bool cuda_build = false;
#endif
  for (int d = 0; d < SEGC_DTYPE_COUNT; ++d) {
    const bool floating = d == SEGC_F32 || d == SEGC_BF16 || d == SEGC_F16;
    CHECK(segc_backend_supports("conv3d", SEGC_DEVICE_CUDA, (segc_dtype)d) ==
              (cuda_build && floating),
          "conv3d on cuda for %s: %s", segc_dtype_name((segc_dtype)d),
          cuda_build ? "f32, bf16, f16 in a CUDA build" : "none without CUDA");
  }
  CHECK(segc_backend_supports("backend context", SEGC_DEVICE_CUDA, SEGC_F32) ==
            cuda_build,
        "a backend context on cuda exactly in a CUDA build");
  if (!cuda_build)
    CHECK_FAILS(segc_backend_require("conv3d", SEGC_DEVICE_CUDA, SEGC_F32),
                SEGC_ERR_UNSUPPORTED, "conv3d: no cuda kernel for f32");
  CHECK_FAILS(segc_backend_require("tensor scale", SEGC_DEVICE_CUDA, SEGC_U8),
              SEGC_ERR_UNSUPPORTED,
              "tensor scale: no cuda kernel for u8 in this build");
  CHECK_FAILS(segc_backend_require_device("relu", SEGC_DEVICE_CUDA),
              SEGC_ERR_UNSUPPORTED, "relu: no cuda kernel in this build");
  // Dtypes an op does not handle, and ops the table does not know.
  CHECK_FAILS(segc_backend_require("conv3d", SEGC_DEVICE_CPU, SEGC_U8),
              SEGC_ERR_UNSUPPORTED, "conv3d: no cpu kernel for u8");
  CHECK(segc_backend_supports("dice_ce", SEGC_DEVICE_CPU, SEGC_U8),
        "dice_ce takes u8 labels");
  CHECK(!segc_backend_supports("no such op", SEGC_DEVICE_CPU, SEGC_F32),
        "unknown op");
  CHECK(!segc_backend_supports(NULL, SEGC_DEVICE_CPU, SEGC_F32), "NULL op");
  CHECK(!segc_backend_supports("conv3d", (segc_device)7, SEGC_F32),
        "device outside the enum");
  CHECK(!segc_backend_supports("conv3d", SEGC_DEVICE_CPU, SEGC_DTYPE_COUNT),
        "dtype outside the enum");
  CHECK_FAILS(segc_backend_require("conv3d", (segc_device)7, SEGC_F32),
              SEGC_ERR_UNSUPPORTED, "conv3d: no device 7 kernel");
  // Core primitives ask the table too.
  float value = 1.0f;
  segc_tensor host = segc_tensor_view(&value, segc_shape5(1, 1, 1, 1, 1),
                                      SEGC_F32, SEGC_LAYOUT_NCDHW,
                                      SEGC_DEVICE_CPU);
  segc_tensor device = host;
  device.device = SEGC_DEVICE_CUDA;
#ifndef SEGC_HAVE_CUDA
  CHECK_FAILS(segc_tensor_zero(&device), SEGC_ERR_UNSUPPORTED,
              "tensor zero: no cuda kernel for f32 in this build");
  CHECK_FAILS(segc_tensor_copy(&host, &device), SEGC_ERR_UNSUPPORTED,
              "tensor copy: no cuda kernel for f32 in this build");
#else
  // Copies between devices are not tensor_copy's (the data stays put).
  CHECK_FAILS(segc_tensor_copy(&host, &device), SEGC_ERR_UNSUPPORTED,
              "tensor copy: from cpu to cuda is not in this build");
#endif
  CHECK(value == 1.0f, "nothing written");
  return test_finish("backend");
}
