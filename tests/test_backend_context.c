// The backend context (core/backend_context.h): a device without a backend
// is refused with the supports table's line (cuda without a CUDA build; a
// CUDA build without a GPU names CUDA's reason), arenas on another device are
// refused by the context and the graph, and two contexts keep their own
// oneDNN primitives (no process-wide cache), giving the same results.
#include <stdlib.h>
#include <string.h>

#include "conv3d_test_support.h"
#include "core/backend_context.h"
#include "core/cuda_runtime.h"
#include "util/test_util.h"

// Arena fields as a device arena would have them; never allocated from.
static segc_arena fake_device_arena(const char *name, segc_device device) {
  segc_arena a;
  memset(&a, 0, sizeof a);
  snprintf(a.name, sizeof a.name, "%s", name);
  a.device = device;
  a.base = (unsigned char *)&a;  // "set up" for the checks; not used
  return a;
}

// On cuda: a build without CUDA has no such backend; a CUDA build without
// a device refuses with CUDA's reason, in one line; with a device the
// context holds the CUDA state (cuDNN and cuBLAS handles) until destroyed.
static int check_cuda_context(segc_backend_context *c,
                              segc_arena *fake_scratch) {
#ifndef SEGC_HAVE_CUDA
  CHECK_FAILS(segc_backend_context_init(c, SEGC_DEVICE_CUDA, fake_scratch),
              SEGC_ERR_UNSUPPORTED, "backend context: no cuda kernel");
  CHECK(c->scratch == NULL && c->cuda == NULL,
        "a refused context is left empty");
#else
  int devices = 0;
  CHECK_OK(segc_cuda_device_count(&devices));
  if (devices == 0) {
    CHECK_FAILS(segc_backend_context_init(c, SEGC_DEVICE_CUDA, fake_scratch),
                SEGC_ERR_UNSUPPORTED,
                "backend context: no CUDA device found (cudaGetDeviceCount: ");
    CHECK(strchr(segc_error_message(), '\n') == NULL, "one line: %s",
          segc_error_message());
    CHECK(c->scratch == NULL && c->cuda == NULL,
          "a refused context is left empty");
    printf("backend_context: no GPU here, cuda refused with: %s\n",
           segc_error_message());
    return 0;
  }
  segc_arena device_scratch;
  CHECK_OK(segc_arena_init(&device_scratch, "device scratch", 1 << 20,
                           SEGC_DEVICE_CUDA));
  CHECK_OK(segc_backend_context_init(c, SEGC_DEVICE_CUDA, &device_scratch));
  CHECK(c->cuda != NULL && c->device == SEGC_DEVICE_CUDA,
        "the context holds the CUDA state");
  segc_backend_context_destroy(c);
  CHECK(c->cuda == NULL && c->scratch == NULL, "destroyed");
  segc_arena_destroy(&device_scratch);
#endif
  return 0;
}

static int check_refusals(void) {
  segc_backend_context *c = &context;
  segc_arena gpu_scratch = fake_device_arena("gpu scratch", SEGC_DEVICE_CUDA);
  if (check_cuda_context(c, &gpu_scratch)) return 1;
  CHECK_FAILS(segc_backend_context_init(c, SEGC_DEVICE_CPU, NULL),
              SEGC_ERR_INVALID, "scratch arena is not set up");
  CHECK_FAILS(segc_backend_context_init(c, SEGC_DEVICE_CPU, &gpu_scratch),
              SEGC_ERR_INVALID, "'gpu scratch' is on cuda, the context on cpu");
  segc_backend_context_destroy(c);  // harmless on an empty context

  CHECK_OK(segc_arena_init(&scratch, "scratch", 1 << 20, SEGC_DEVICE_CPU));
  CHECK_OK(segc_arena_init(&activations, "activations", 1 << 20,
                           SEGC_DEVICE_CPU));
  CHECK_OK(segc_backend_context_init(c, SEGC_DEVICE_CPU, &scratch));
  segc_arena gpu_activations =
      fake_device_arena("gpu activations", SEGC_DEVICE_CUDA);
  CHECK_FAILS(segc_graph_init(&graph, c, &gpu_activations, 1 << 16),
              SEGC_ERR_INVALID, "'gpu activations' is on cuda, the backend "
                                "on cpu");
  CHECK_FAILS(segc_graph_init(&graph, NULL, &activations, 1 << 16),
              SEGC_ERR_INVALID, "backend context");
  CHECK_OK(segc_graph_init(&graph, c, &activations, 1 << 16));
  CHECK(graph.backend == c && graph.backend->scratch == &scratch,
        "the graph carries the context and its scratch");
  segc_graph_destroy(&graph);
  segc_backend_context_destroy(c);
  segc_backend_context_destroy(c);  // twice is harmless
  segc_arena_destroy(&activations);
  segc_arena_destroy(&scratch);
  return 0;
}

// The same convolution on two contexts: identical outputs, and each
// context builds its own primitives (the second starts empty).
static int check_own_primitives(void) {
  const conv_case c = {1, 4, 6, 5, 5, 5, 3, 1, 1, true};
  double *w = random_values(weight_count(&c), 1, false);
  double *b = random_values(c.cout, 2, false);
  double *xd = random_values(segc_shape_numel(in_shape(&c)), 3, false);
  fixture f;
  CHECK_OK(fixture_init(&f, &c, w, b));
  segc_arena first_scratch, second_scratch;
  CHECK_OK(segc_arena_init(&first_scratch, "first", 16 << 20, SEGC_DEVICE_CPU));
  CHECK_OK(segc_arena_init(&second_scratch, "second", 16 << 20,
                           SEGC_DEVICE_CPU));
  segc_backend_context first, second;
  CHECK_OK(segc_backend_context_init(&first, SEGC_DEVICE_CPU, &first_scratch));
  CHECK_OK(segc_backend_context_init(&second, SEGC_DEVICE_CPU,
                                     &second_scratch));
  void *xv = to_ndhwc(in_shape(&c), xd, SEGC_F32);
  const segc_tensor x = segc_tensor_view(xv, in_shape(&c), SEGC_F32,
                                         SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  const int64_t n = segc_shape_numel(out_shape(&c));
  float *y1 = calloc((size_t)n, sizeof(float));
  float *y2 = calloc((size_t)n, sizeof(float));
  segc_tensor t1 = segc_tensor_view(y1, out_shape(&c), SEGC_F32,
                                    SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  segc_tensor t2 = t1;
  t2.data = y2;
  CHECK_OK(segc_conv3d_apply(&f.layer, &x, &t1, &first));
  const int built = segc_dnnl_cache_size(first.dnnl.primitives);
  CHECK(built >= 1, "the first context built its primitives (%d)", built);
  CHECK(segc_dnnl_cache_size(second.dnnl.primitives) == 0,
        "the second context starts empty");
  CHECK_OK(segc_conv3d_apply(&f.layer, &x, &t2, &second));
  // Its own convolution; the weight reorder may be skipped, as the layer
  // keeps its reordered weights while the parameter is unchanged.
  const int second_built = segc_dnnl_cache_size(second.dnnl.primitives);
  CHECK(second_built >= 1 && second_built <= built,
        "the second context built its own primitives (%d of %d)",
        second_built, built);
  CHECK(segc_dnnl_cache_size(first.dnnl.primitives) == built,
        "the first context's cache is untouched");
  CHECK(memcmp(y1, y2, sizeof(float) * (size_t)n) == 0,
        "both contexts give the same bits");
  // A context outlives another's destruction.
  segc_backend_context_destroy(&first);
  memset(y2, 0, sizeof(float) * (size_t)n);
  CHECK_OK(segc_conv3d_apply(&f.layer, &x, &t2, &second));
  CHECK(memcmp(y1, y2, sizeof(float) * (size_t)n) == 0,
        "the second context still runs after the first is gone");
  CHECK(first_scratch.live_bytes == 0 && second_scratch.live_bytes == 0,
        "scratch given back");
  segc_backend_context_destroy(&second);
  segc_arena_destroy(&first_scratch);
  segc_arena_destroy(&second_scratch);
  fixture_destroy(&f);
  free(w);
  free(b);
  free(xd);
  free(xv);
  free(y1);
  free(y2);
  return 0;
}

int main(void) {
  if (check_refusals() || check_own_primitives()) return test_finish_failed();
  return test_finish("backend_context");
}
