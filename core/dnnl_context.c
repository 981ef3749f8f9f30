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

typedef struct {
  void *key;
  size_t key_bytes;
  segc_dnnl_cached entry;
} cache_slot;

// Slots are allocated one by one so that pointers handed out stay valid
// when the table grows.
struct segc_dnnl_cache {
  pthread_mutex_t mutex;
  cache_slot **slots;
  int slot_count, slot_capacity;
};

segc_status segc_dnnl_state_init(segc_dnnl_state *state) {
  memset(state, 0, sizeof *state);
  state->primitives = calloc(1, sizeof *state->primitives);
  if (!state->primitives)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "oneDNN primitive cache: out of memory");
  if (pthread_mutex_init(&state->primitives->mutex, NULL) != 0) {
    free(state->primitives);
    state->primitives = NULL;
    return SEGC_FAIL(SEGC_ERR_BACKEND,
                     "oneDNN primitive cache: pthread_mutex_init failed");
  }
  dnnl_status_t status = dnnl_engine_create(&state->engine, dnnl_cpu, 0);
  if (status == dnnl_success)
    status = dnnl_stream_create(&state->stream, state->engine,
                                dnnl_stream_default_flags);
  if (status != dnnl_success) {
    segc_dnnl_state_destroy(state);
    return SEGC_FAIL(SEGC_ERR_BACKEND, "oneDNN CPU engine/stream: %s",
                     segc_dnnl_status_name(status));
  }
  return SEGC_OK;
}

void segc_dnnl_state_destroy(segc_dnnl_state *state) {
  segc_dnnl_cache *cache = state->primitives;
  if (cache) {
    for (int i = 0; i < cache->slot_count; ++i) {
      dnnl_primitive_destroy(cache->slots[i]->entry.primitive);
      dnnl_primitive_desc_destroy(cache->slots[i]->entry.desc);
      free(cache->slots[i]->key);
      free(cache->slots[i]);
    }
    free(cache->slots);
    pthread_mutex_destroy(&cache->mutex);
    free(cache);
  }
  if (state->stream) dnnl_stream_destroy(state->stream);
  if (state->engine) dnnl_engine_destroy(state->engine);
  memset(state, 0, sizeof *state);
}

static bool bf16_supported;
static pthread_once_t bf16_once = PTHREAD_ONCE_INIT;

static void probe_bf16(void) {
  dnnl_engine_t engine;
  if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return;
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
                                         padding) != dnnl_success) {
    dnnl_engine_destroy(engine);
    return;
  }
  if (dnnl_primitive_desc_create(&pd, &conv, NULL, engine, NULL) == dnnl_success) {
    dnnl_primitive_desc_destroy(pd);
    bf16_supported = true;
  }
  dnnl_engine_destroy(engine);
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

segc_dnnl_cached *segc_dnnl_cache_find(segc_dnnl_cache *cache, const void *key,
                                       size_t key_bytes) {
  segc_dnnl_cached *found = NULL;
  pthread_mutex_lock(&cache->mutex);
  for (int i = 0; i < cache->slot_count; ++i) {
    const cache_slot *slot = cache->slots[i];
    if (slot->key_bytes == key_bytes &&
        memcmp(slot->key, key, key_bytes) == 0) {
      found = &cache->slots[i]->entry;
      break;
    }
  }
  pthread_mutex_unlock(&cache->mutex);
  return found;
}

segc_status segc_dnnl_cache_insert(segc_dnnl_cache *cache, const void *key,
                                   size_t key_bytes,
                                   dnnl_primitive_desc_t desc,
                                   dnnl_primitive_t primitive,
                                   segc_dnnl_cached **out) {
  pthread_mutex_lock(&cache->mutex);
  if (cache->slot_count == cache->slot_capacity) {
    const int grown = cache->slot_capacity ? cache->slot_capacity * 2 : 64;
    cache_slot **bigger =
        realloc(cache->slots, sizeof(cache_slot *) * (size_t)grown);
    if (!bigger) {
      pthread_mutex_unlock(&cache->mutex);
      return SEGC_FAIL(SEGC_ERR_NOMEM, "oneDNN primitive cache: out of memory");
    }
    cache->slots = bigger;
    cache->slot_capacity = grown;
  }
  void *key_copy = malloc(key_bytes);
  cache_slot *slot = malloc(sizeof *slot);
  if (!key_copy || !slot) {
    free(key_copy);
    free(slot);
    pthread_mutex_unlock(&cache->mutex);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "oneDNN primitive cache: out of memory");
  }
  memcpy(key_copy, key, key_bytes);
  cache->slots[cache->slot_count++] = slot;
  slot->key = key_copy;
  slot->key_bytes = key_bytes;
  slot->entry.desc = desc;
  slot->entry.primitive = primitive;
  *out = &slot->entry;
  pthread_mutex_unlock(&cache->mutex);
  return SEGC_OK;
}

int segc_dnnl_cache_size(const segc_dnnl_cache *cache) {
  return cache->slot_count;
}
