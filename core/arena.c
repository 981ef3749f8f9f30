#include "core/arena.h"

#include "core/backend.h"
#include "core/cuda_runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static size_t round_up(size_t bytes) {
  return (bytes + SEGC_ARENA_ALIGN - 1) & ~(size_t)(SEGC_ARENA_ALIGN - 1);
}

// How each device reserves, releases and zeroes an arena's block.
typedef struct {
  segc_status (*reserve)(void **base, size_t bytes, const char *name);
  void (*release)(void *base, size_t bytes);
  segc_status (*zero)(void *ptr, size_t bytes);
} device_memory;

// Host memory is reserved virtually: pages are mapped on first touch, so a
// generous capacity costs nothing until used.
static segc_status host_reserve(void **base, size_t bytes, const char *name) {
  *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (*base != MAP_FAILED) return SEGC_OK;
  *base = NULL;
  return SEGC_FAIL(SEGC_ERR_NOMEM, "arena '%s': cannot reserve %zu bytes: %s",
                   name, bytes, strerror(errno));
}
static void host_release(void *base, size_t bytes) { munmap(base, bytes); }
static segc_status host_zero(void *ptr, size_t bytes) {
  memset(ptr, 0, bytes);
  return SEGC_OK;
}

// Device memory is taken for real: size device arenas from the shapes.
static void cuda_release(void *base, size_t bytes) {
  (void)bytes;
  segc_cuda_free(base);
}
static segc_status cuda_zero(void *ptr, size_t bytes) {
  return segc_cuda_memset(ptr, 0, bytes);
}

static const device_memory host_memory = {host_reserve, host_release,
                                          host_zero};
static const device_memory cuda_memory = {segc_cuda_malloc, cuda_release,
                                          cuda_zero};
static const device_memory *const memory_by_device[SEGC_DEVICE_COUNT] =
    SEGC_BACKEND_KERNELS(&host_memory, &cuda_memory);

segc_status segc_arena_init(segc_arena *arena, const char *name,
                            size_t capacity, segc_device device) {
  memset(arena, 0, sizeof *arena);
  snprintf(arena->name, sizeof arena->name, "%s", name);
  if ((unsigned)device >= SEGC_DEVICE_COUNT)
    return SEGC_FAIL(SEGC_ERR_INVALID, "arena '%s': unknown device %d", name,
                     (int)device);
  arena->device = device;
  capacity = round_up(capacity ? capacity : SEGC_ARENA_ALIGN);
  const device_memory *memory = memory_by_device[device];
  void *base;
  SEGC_TRY(memory->reserve(&base, capacity, arena->name));
  arena->free_capacity = 64;
  arena->free_ranges = malloc(sizeof(segc_arena_range) * 64);
  if (!arena->free_ranges) {
    memory->release(base, capacity);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "arena '%s': no memory for its free list",
                     name);
  }
  arena->base = base;
  arena->capacity = capacity;
  arena->free_ranges[0] = (segc_arena_range){0, capacity};
  arena->free_count = 1;
  return SEGC_OK;
}

void segc_arena_destroy(segc_arena *arena) {
  if (arena->base)
    memory_by_device[arena->device]->release(arena->base, arena->capacity);
  free(arena->free_ranges);
  memset(arena, 0, sizeof *arena);
}

segc_status segc_arena_alloc(segc_arena *arena, size_t bytes, void **out) {
  *out = NULL;
  if (!arena->base)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "arena '%s' used before init",
                     arena->name);
  const size_t need = round_up(bytes ? bytes : 1);
  for (int i = 0; i < arena->free_count; ++i) {
    segc_arena_range *r = &arena->free_ranges[i];
    if (r->bytes < need) continue;
    size_t offset = r->offset;
    r->offset += need;
    r->bytes -= need;
    if (r->bytes == 0) {
      memmove(r, r + 1, sizeof *r * (size_t)(arena->free_count - i - 1));
      arena->free_count--;
    }
    arena->live_bytes += need;
    if (arena->live_bytes > arena->peak_bytes)
      arena->peak_bytes = arena->live_bytes;
    if (offset + need > arena->high_water) arena->high_water = offset + need;
    *out = arena->base + offset;
    return SEGC_OK;
  }
  size_t largest = 0;
  for (int i = 0; i < arena->free_count; ++i)
    if (arena->free_ranges[i].bytes > largest)
      largest = arena->free_ranges[i].bytes;
  return SEGC_FAIL(SEGC_ERR_NOMEM,
                   "arena '%s' is full: asked for %zu bytes, largest free "
                   "block %zu of capacity %zu (%zu in use)",
                   arena->name, need, largest, arena->capacity,
                   arena->live_bytes);
}

segc_status segc_arena_calloc(segc_arena *arena, size_t bytes, void **out) {
  SEGC_TRY(segc_arena_alloc(arena, bytes, out));
  return memory_by_device[arena->device]->zero(*out, bytes);
}

void segc_arena_free(segc_arena *arena, void *ptr, size_t bytes) {
  if (!ptr) return;
  const size_t size = round_up(bytes ? bytes : 1);
  const size_t offset = (size_t)((unsigned char *)ptr - arena->base);
  // Find the first free range after the block.
  int i = 0;
  while (i < arena->free_count && arena->free_ranges[i].offset < offset) ++i;
  const bool joins_prev =
      i > 0 && arena->free_ranges[i - 1].offset +
                       arena->free_ranges[i - 1].bytes == offset;
  const bool joins_next =
      i < arena->free_count && offset + size == arena->free_ranges[i].offset;
  arena->live_bytes -= size;
  if (joins_prev && joins_next) {
    arena->free_ranges[i - 1].bytes += size + arena->free_ranges[i].bytes;
    memmove(&arena->free_ranges[i], &arena->free_ranges[i + 1],
            sizeof(segc_arena_range) * (size_t)(arena->free_count - i - 1));
    arena->free_count--;
  } else if (joins_prev) {
    arena->free_ranges[i - 1].bytes += size;
  } else if (joins_next) {
    arena->free_ranges[i].offset = offset;
    arena->free_ranges[i].bytes += size;
  } else {
    if (arena->free_count == arena->free_capacity) {
      // The list only grows when fragmentation reaches a new maximum, which
      // happens in the first steps, not in the steady state.
      int grown = arena->free_capacity * 2;
      segc_arena_range *bigger =
          realloc(arena->free_ranges, sizeof(segc_arena_range) * (size_t)grown);
      if (!bigger) {
        // Losing track of a free block only wastes it; never corrupt the list.
        fprintf(stderr, "segc: arena '%s': free list could not grow\n",
                arena->name);
        return;
      }
      arena->free_ranges = bigger;
      arena->free_capacity = grown;
    }
    memmove(&arena->free_ranges[i + 1], &arena->free_ranges[i],
            sizeof(segc_arena_range) * (size_t)(arena->free_count - i));
    arena->free_ranges[i] = (segc_arena_range){offset, size};
    arena->free_count++;
  }
}

void segc_arena_reset(segc_arena *arena) {
  arena->free_ranges[0] = (segc_arena_range){0, arena->capacity};
  arena->free_count = 1;
  arena->live_bytes = 0;
}

segc_status segc_arena_tensor(segc_arena *arena, segc_shape shape,
                              segc_dtype dtype, segc_layout layout,
                              segc_tensor *out) {
  if (shape.n <= 0 || shape.c <= 0 || shape.d <= 0 || shape.h <= 0 ||
      shape.w <= 0) {
    char buf[96];
    return SEGC_FAIL(SEGC_ERR_INVALID, "arena '%s': bad tensor shape %s",
                     arena->name, segc_shape_str(shape, buf, sizeof buf));
  }
  *out = segc_tensor_view(NULL, shape, dtype, layout, arena->device);
  return segc_arena_alloc(arena, segc_tensor_bytes(out), &out->data);
}

void segc_arena_free_tensor(segc_arena *arena, segc_tensor *t) {
  segc_arena_free(arena, t->data, segc_tensor_bytes(t));
  t->data = NULL;
}
