// A small cache of backend plans keyed by plain bytes: the CUDA backend
// keeps its cuDNN descriptors and chosen algorithms here, one entry per
// shape (core/cuda_state.h), built on first use and destroyed with the
// backend context. Host-only C, so the CPU tests exercise it.
//
// Lookups are linear: a network has a few dozen distinct convolution
// shapes, and a lookup is a memcmp per entry.
#ifndef SEGC_CORE_PLAN_CACHE_H
#define SEGC_CORE_PLAN_CACHE_H

#include <stddef.h>

#include "core/status.h"

enum { SEGC_PLAN_KEY_MAX = 256 };  // bytes of one key

typedef struct segc_plan_cache segc_plan_cache;  // private

segc_status segc_plan_cache_new(segc_plan_cache **out);
// Destroys every entry's value (with the destroy function it was inserted
// with) and the cache; NULL is ignored.
void segc_plan_cache_free(segc_plan_cache *cache);

// The value stored for `key` (key_bytes of plain data with no padding
// bytes), or NULL.
void *segc_plan_cache_find(const segc_plan_cache *cache, const void *key,
                           size_t key_bytes);
// Stores `value` for a key that is not there yet; the cache owns it from
// then on (also on failure: it is destroyed then).
segc_status segc_plan_cache_insert(segc_plan_cache *cache, const void *key,
                                   size_t key_bytes, void *value,
                                   void (*destroy)(void *value));
int segc_plan_cache_size(const segc_plan_cache *cache);

#endif
