// Arenas: one block of memory per role (weights, gradients, optimizer state,
// activations of a step, scratch), reserved once with a fixed capacity.
//
// Allocation inside an arena is first-fit over a sorted free list, so the
// activation arena can hand back memory as soon as a value is dead while the
// weight arena is simply never freed. Nothing calls malloc in the hot loop:
// after the first step every byte an arena hands out is already mapped, so
// the kernel does not zero fresh pages again.
#ifndef SEGC_CORE_ARENA_H
#define SEGC_CORE_ARENA_H

#include <stddef.h>

#include "core/status.h"
#include "core/tensor.h"

enum { SEGC_ARENA_ALIGN = 64 };

typedef struct {
  size_t offset;
  size_t bytes;
} segc_arena_range;

typedef struct {
  char name[32];
  segc_device device;
  unsigned char *base;
  size_t capacity;      // bytes reserved
  size_t live_bytes;    // bytes handed out and not yet freed
  size_t peak_bytes;    // highest live_bytes seen
  size_t high_water;    // highest end offset ever handed out (touched memory)
  segc_arena_range *free_ranges;  // sorted by offset, coalesced
  int free_count, free_capacity;
} segc_arena;

// Reserves `capacity` bytes. On the CPU the reservation is virtual (pages are
// mapped on first touch), so a generous capacity costs nothing until used.
segc_status segc_arena_init(segc_arena *arena, const char *name,
                            size_t capacity, segc_device device);
void segc_arena_destroy(segc_arena *arena);

// Hands out `bytes` (rounded up to the alignment), or fails with a message
// naming the arena, the request and what is left.
segc_status segc_arena_alloc(segc_arena *arena, size_t bytes, void **out);
// Same, zero-filled.
segc_status segc_arena_calloc(segc_arena *arena, size_t bytes, void **out);
// Returns memory from segc_arena_alloc; `bytes` is the size asked for.
void segc_arena_free(segc_arena *arena, void *ptr, size_t bytes);
// Frees everything at once.
void segc_arena_reset(segc_arena *arena);

// Allocates a dense tensor of the given shape/dtype/layout in the arena.
segc_status segc_arena_tensor(segc_arena *arena, segc_shape shape,
                              segc_dtype dtype, segc_layout layout,
                              segc_tensor *out);
void segc_arena_free_tensor(segc_arena *arena, segc_tensor *t);

#endif
