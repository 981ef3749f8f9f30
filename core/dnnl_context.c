#include "core/dnnl_context.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const char *segc_dnnl_status_name(dnnl_status_t status) {
  switch (status) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented (no kernel for this shape/type)";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
  }
  return "unknown status";
}

static dnnl_engine_t shared_engine;
static dnnl_stream_t shared_stream;
static dnnl_status_t init_status = dnnl_success;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t cache_mutex = PTHREAD_MUTEX_INITIALIZER;

static void create_engine_and_stream(void) {
  init_status = dnnl_engine_create(&shared_engine, dnnl_cpu, 0);
  if (init_status == dnnl_success)
    init_status = dnnl_stream_create(&shared_stream, shared_engine,
                                     dnnl_stream_default_flags);
}

static segc_status ensure_init(void) {
  int rc = pthread_once(&init_once, create_engine_and_stream);
  if (rc != 0)
    return SEGC_FAIL(SEGC_ERR_BACKEND, "oneDNN engine: pthread_once failed");
  if (init_status != dnnl_success)
    return SEGC_FAIL(SEGC_ERR_BACKEND, "oneDNN CPU engine/stream: %s",
                     segc_dnnl_status_name(init_status));
  return SEGC_OK;
}

segc_status segc_dnnl_engine(dnnl_engine_t *engine) {
  SEGC_TRY(ensure_init());
  *engine = shared_engine;
  return SEGC_OK;
}

segc_status segc_dnnl_stream(dnnl_stream_t *stream) {
  SEGC_TRY(ensure_init());
  *stream = shared_stream;
  return SEGC_OK;
}

static bool bf16_supported;
static pthread_once_t bf16_once = PTHREAD_ONCE_INIT;

static void probe_bf16(void) {
  dnnl_engine_t engine;
  if (segc_dnnl_engine(&engine) != SEGC_OK) return;
  const dnnl_dims_t src_dims = {1, 16, 8, 8, 8}, weight_dims = {16, 16, 3, 3, 3};
  const dnnl_dims_t strides = {1, 1, 1}, padding = {1, 1, 1};
  dnnl_memory_desc_t src, weights, dst;
  dnnl_convolution_desc_t conv;
  dnnl_primitive_desc_t pd;
  if (dnnl_memory_desc_init_by_tag(&src, 5, src_dims, dnnl_bf16, dnnl_ndhwc) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&dst, 5, src_dims, dnnl_bf16, dnnl_ndhwc) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&weights, 5, weight_dims, dnnl_bf16,
                                   dnnl_format_tag_any) != dnnl_success ||
      dnnl_convolution_forward_desc_init(&conv, dnnl_forward_training,
                                         dnnl_convolution_direct, &src, &weights,
                                         NULL, &dst, strides, padding,
                                         padding) != dnnl_success)
    return;
  if (dnnl_primitive_desc_create(&pd, &conv, NULL, engine, NULL) != dnnl_success)
    return;
  dnnl_primitive_desc_destroy(pd);
  bf16_supported = true;
}

bool segc_dnnl_has_bf16(void) {
  if (pthread_once(&bf16_once, probe_bf16) != 0) return false;
  return bf16_supported;
}

segc_status segc_dnnl_require_compute(segc_dtype dtype) {
  if (dtype != SEGC_BF16 || segc_dnnl_has_bf16()) return SEGC_OK;
  const dnnl_version_t *v = dnnl_version();
  return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                   "bf16 compute is not available on this CPU: oneDNN %d.%d has "
                   "bf16 convolutions only with AVX-512 (avx512_core); use f32 "
                   "(--dtype f32, or amp false in the config)",
                   v->major, v->minor);
}

typedef struct {
  void *key;
  size_t key_bytes;
  segc_dnnl_cached entry;
} cache_slot;

// Slots are allocated one by one so that pointers handed out stay valid
// when the table grows.
static cache_slot **slots;
static int slot_count, slot_capacity;

segc_dnnl_cached *segc_dnnl_cache_find(const void *key, size_t key_bytes) {
  segc_dnnl_cached *found = NULL;
  pthread_mutex_lock(&cache_mutex);
  for (int i = 0; i < slot_count; ++i) {
    if (slots[i]->key_bytes == key_bytes &&
        memcmp(slots[i]->key, key, key_bytes) == 0) {
      found = &slots[i]->entry;
      break;
    }
  }
  pthread_mutex_unlock(&cache_mutex);
  return found;
}

segc_status segc_dnnl_cache_insert(const void *key, size_t key_bytes,
                                   dnnl_primitive_desc_t desc,
                                   dnnl_primitive_t primitive,
                                   segc_dnnl_cached **out) {
  pthread_mutex_lock(&cache_mutex);
  if (slot_count == slot_capacity) {
    int grown = slot_capacity ? slot_capacity * 2 : 64;
    cache_slot **bigger = realloc(slots, sizeof(cache_slot *) * (size_t)grown);
    if (!bigger) {
      pthread_mutex_unlock(&cache_mutex);
      return SEGC_FAIL(SEGC_ERR_NOMEM, "oneDNN primitive cache: out of memory");
    }
    slots = bigger;
    slot_capacity = grown;
  }
  void *key_copy = malloc(key_bytes);
  cache_slot *slot = malloc(sizeof *slot);
  if (!key_copy || !slot) {
    free(key_copy);
    free(slot);
    pthread_mutex_unlock(&cache_mutex);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "oneDNN primitive cache: out of memory");
  }
  memcpy(key_copy, key, key_bytes);
  slots[slot_count++] = slot;
  slot->key = key_copy;
  slot->key_bytes = key_bytes;
  slot->entry.desc = desc;
  slot->entry.primitive = primitive;
  *out = &slot->entry;
  pthread_mutex_unlock(&cache_mutex);
  return SEGC_OK;
}

int segc_dnnl_cache_size(void) { return slot_count; }

void segc_dnnl_shutdown(void) {
  pthread_mutex_lock(&cache_mutex);
  for (int i = 0; i < slot_count; ++i) {
    dnnl_primitive_destroy(slots[i]->entry.primitive);
    dnnl_primitive_desc_destroy(slots[i]->entry.desc);
    free(slots[i]->key);
    free(slots[i]);
  }
  free(slots);
  slots = NULL;
  slot_count = slot_capacity = 0;
  pthread_mutex_unlock(&cache_mutex);
  if (shared_stream) dnnl_stream_destroy(shared_stream);
  if (shared_engine) dnnl_engine_destroy(shared_engine);
  shared_stream = NULL;
  shared_engine = NULL;
}
