// oneDNN on the CPU: a checked-call macro, the engine, stream and primitive
// cache of one backend context (core/backend_context.h), and the probe of
// this CPU's bf16 support.
#ifndef SEGC_CORE_DNNL_CONTEXT_H
#define SEGC_CORE_DNNL_CONTEXT_H

#include <oneapi/dnnl/dnnl.h>
#include <stdbool.h>

#include "core/dtype.h"
#include "core/status.h"

// Checks a oneDNN call; on failure records the call, oneDNN's status and the
// place, and returns SEGC_ERR_BACKEND from the enclosing function.
#define SEGC_DNNL_CHECK(call)                                                \
  do {                                                                       \
    dnnl_status_t dnnl_status_ = (call);                                     \
    if (dnnl_status_ != dnnl_success)                                        \
      return segc_fail(SEGC_ERR_BACKEND, "oneDNN %s failed: %s (%s:%d)",     \
                       #call, segc_dnnl_status_name(dnnl_status_), __FILE__, \
                       __LINE__);                                            \
  } while (0)

const char *segc_dnnl_status_name(dnnl_status_t status);

typedef struct segc_dnnl_cache segc_dnnl_cache;  // private

// A CPU engine, its in-order stream, and the primitives built on it.
typedef struct {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  segc_dnnl_cache *primitives;
} segc_dnnl_state;

segc_status segc_dnnl_state_init(segc_dnnl_state *state);
// Destroys every cached primitive, the stream and the engine.
void segc_dnnl_state_destroy(segc_dnnl_state *state);

// Whether this CPU has oneDNN bf16 convolutions. oneDNN 2.x implements them
// only with AVX-512 (avx512_core); on AVX2 machines (AMD Zen 2/3, older
// Intel) it reports "unimplemented". Probed once by building a small bf16
// convolution descriptor; never assume which precision a CPU has or is fast.
bool segc_dnnl_has_bf16(void);
// SEGC_OK when convolutions can compute in `dtype` here; otherwise an
// SEGC_ERR_UNSUPPORTED whose message says so and what to use instead.
segc_status segc_dnnl_require_compute(segc_dtype dtype);

// A cached primitive with its descriptor. Ops describe what they need in a
// small key struct (kind, shapes, dtypes); the first call builds the
// primitive, later calls with the same key get it back. The cache is safe to
// use from several threads.
typedef struct {
  dnnl_primitive_desc_t desc;
  dnnl_primitive_t primitive;
} segc_dnnl_cached;

// Looks `key` (key_bytes of plain data, zero-padded) up; returns NULL when
// absent.
segc_dnnl_cached *segc_dnnl_cache_find(segc_dnnl_cache *cache, const void *key,
                                       size_t key_bytes);
// Stores a new primitive for `key` (the cache owns both handles afterwards;
// on failure the caller still does).
segc_status segc_dnnl_cache_insert(segc_dnnl_cache *cache, const void *key,
                                   size_t key_bytes,
                                   dnnl_primitive_desc_t desc,
                                   dnnl_primitive_t primitive,
                                   segc_dnnl_cached **out);
// Number of primitives built so far (tests check the cache is hit).
int segc_dnnl_cache_size(const segc_dnnl_cache *cache);

#endif
