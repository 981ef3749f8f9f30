// Device arenas through the CUDA runtime wrappers. Skipped (exit 77) when
// segc was built without CUDA or no device is present (the development and
// CI machines have the toolkit but no GPU); on a GPU machine it allocates,
// zero-fills, copies and frees device memory through an arena.
#include <string.h>

#include "core/arena.h"
#include "core/cuda_runtime.h"
#include "util/test_util.h"

int main(void) {
  int devices = 0;
  if (segc_cuda_device_count(&devices) != SEGC_OK) {
    printf("cuda_runtime: SKIPPED: %s\n", segc_error_message());
    CHECK_FAILS(segc_cuda_malloc(&(void *){NULL}, 64, "probe"),
                SEGC_ERR_UNSUPPORTED, "without CUDA");
    segc_arena arena;
    CHECK_FAILS(segc_arena_init(&arena, "device", 1024, SEGC_DEVICE_CUDA),
                SEGC_ERR_UNSUPPORTED, "without CUDA");
    CHECK_FAILS(segc_cuda_set_device(0), SEGC_ERR_UNSUPPORTED, "without CUDA");
    CHECK_FAILS(segc_cuda_synchronize(), SEGC_ERR_UNSUPPORTED, "without CUDA");
    CHECK_FAILS(segc_cuda_check_last("probe"), SEGC_ERR_UNSUPPORTED,
                "without CUDA");
    return test_failures ? test_finish("cuda_runtime") : TEST_SKIP;
  }
  if (devices == 0) {
    const char *reason = NULL;
    CHECK_OK(segc_cuda_device_count_reason(&devices, &reason));
    CHECK(devices == 0 && reason && reason[0], "a reason for no device");
    printf("cuda_runtime: SKIPPED: built with CUDA, but no CUDA device here "
           "(cudaGetDeviceCount: %s)\n", reason ? reason : "?");
    return test_failures ? test_finish("cuda_runtime") : TEST_SKIP;
  }
  int device = -1;
  CHECK_OK(segc_cuda_set_device(0));
  CHECK_OK(segc_cuda_get_device(&device));
  CHECK(device == 0, "device 0 is current (%d)", device);
  CHECK_OK(segc_cuda_synchronize());
  CHECK_OK(segc_cuda_check_last("nothing launched"));
  segc_arena arena;
  CHECK_OK(segc_arena_init(&arena, "device", 1 << 20, SEGC_DEVICE_CUDA));
  void *a;
  CHECK_OK(segc_arena_calloc(&arena, 4096, &a));
  unsigned char host[4096];
  memset(host, 7, sizeof host);
  CHECK_OK(segc_cuda_copy(host, a, sizeof host));
  int zeros = 0;
  for (size_t i = 0; i < sizeof host; ++i) zeros += host[i] == 0;
  CHECK(zeros == 4096, "calloc on the device zero-fills (%d)", zeros);
  segc_arena_free(&arena, a, 4096);
  CHECK(arena.live_bytes == 0, "freed");
  segc_arena_destroy(&arena);
  return test_finish("cuda_runtime");
}
