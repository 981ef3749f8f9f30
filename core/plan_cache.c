#include "core/plan_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  unsigned char key[SEGC_PLAN_KEY_MAX];
  size_t key_bytes;
  void *value;
  void (*destroy)(void *value);
} plan_entry;

struct segc_plan_cache {
  plan_entry *entries;
  int count, capacity;
};

segc_status segc_plan_cache_new(segc_plan_cache **out) {
  *out = calloc(1, sizeof **out);
  if (!*out)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "plan cache: out of memory");
  return SEGC_OK;
}

void segc_plan_cache_free(segc_plan_cache *cache) {
  if (!cache) return;
  for (int i = 0; i < cache->count; ++i)
    if (cache->entries[i].destroy)
      cache->entries[i].destroy(cache->entries[i].value);
  free(cache->entries);
  free(cache);
}

static int find_index(const segc_plan_cache *cache, const void *key,
                      size_t key_bytes) {
  for (int i = 0; i < cache->count; ++i) {
    const plan_entry *e = &cache->entries[i];
    if (e->key_bytes == key_bytes && memcmp(e->key, key, key_bytes) == 0)
      return i;
  }
  return -1;
}

void *segc_plan_cache_find(const segc_plan_cache *cache, const void *key,
                           size_t key_bytes) {
  const int i = find_index(cache, key, key_bytes);
  return i < 0 ? NULL : cache->entries[i].value;
}

segc_status segc_plan_cache_insert(segc_plan_cache *cache, const void *key,
                                   size_t key_bytes, void *value,
                                   void (*destroy)(void *value)) {
  segc_status status = SEGC_OK;
  if (key_bytes == 0 || key_bytes > SEGC_PLAN_KEY_MAX)
    status = SEGC_FAIL(SEGC_ERR_INTERNAL,
                       "plan cache: a key of %zu bytes (1..%d)", key_bytes,
                       (int)SEGC_PLAN_KEY_MAX);
  else if (find_index(cache, key, key_bytes) >= 0)
    status = SEGC_FAIL(SEGC_ERR_INTERNAL,
                       "plan cache: the key is there already");
  if (status == SEGC_OK && cache->count == cache->capacity) {
    const int grown = cache->capacity ? 2 * cache->capacity : 16;
    plan_entry *entries =
        realloc(cache->entries, sizeof(plan_entry) * (size_t)grown);
    if (!entries)
      status = SEGC_FAIL(SEGC_ERR_NOMEM, "plan cache: out of memory");
    else {
      cache->entries = entries;
      cache->capacity = grown;
    }
  }
  if (status != SEGC_OK) {
    if (destroy) destroy(value);
    return status;
  }
  plan_entry *e = &cache->entries[cache->count++];
  memset(e->key, 0, sizeof e->key);
  memcpy(e->key, key, key_bytes);
  e->key_bytes = key_bytes;
  e->value = value;
  e->destroy = destroy;
  return SEGC_OK;
}

int segc_plan_cache_size(const segc_plan_cache *cache) {
  return cache ? cache->count : 0;
}
