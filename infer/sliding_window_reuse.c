#include "infer/sliding_window_reuse.h"

#include <stdlib.h>
#include <string.h>

#include "core/device_memory.h"

// Distinct constant values counted while planning; more are left out (and
// computed as any window).
enum { kMaxCandidates = 64 };

static uint32_t float_bits(const float *p) {
  uint32_t bits;
  memcpy(&bits, p, sizeof bits);
  return bits;
}

bool segc_sw_window_constant(const segc_sw_geometry *g,
                             segc_sw_padding padding, const float *image,
                             const int64_t start[3], uint32_t *bits) {
  // The window reads the image box [lo, hi] (clamped) and, where it sticks
  // out of the image, replicates that box's border or reads zeros: so it is
  // constant when the box is, and, with zeros, when the box is +0.0 too.
  int64_t lo[3], hi[3];
  bool sticks_out = false;
  for (int a = 0; a < 3; ++a) {
    const int64_t first = start[a] - g->pad_before[a];
    const int64_t last = first + g->roi[a] - 1;
    lo[a] = first < 0 ? 0 : first;
    hi[a] = last >= g->dim[a] ? g->dim[a] - 1 : last;
    if (lo[a] > hi[a]) return false;  // never placed so; computed as usual
    if (first < 0 || last >= g->dim[a]) sticks_out = true;
  }
  const uint32_t value =
      float_bits(image + (lo[0] * g->dim[1] + lo[1]) * g->dim[2] + lo[2]);
  if (padding == SEGC_SW_PAD_ZERO && sticks_out && value != 0u) return false;
  for (int64_t i = lo[0]; i <= hi[0]; ++i)
    for (int64_t j = lo[1]; j <= hi[1]; ++j) {
      const float *row = image + (i * g->dim[1] + j) * g->dim[2];
      for (int64_t k = lo[2]; k <= hi[2]; ++k)
        if (float_bits(row + k) != value) return false;
    }
  *bits = value;
  return true;
}

typedef struct {
  uint32_t bits;
  int windows;
  int first_window;
} candidate;

// The candidate holding `bits`, added if there is room; NULL otherwise.
static candidate *find_candidate(candidate *list, int *count, uint32_t bits,
                                 int window) {
  for (int c = 0; c < *count; ++c)
    if (list[c].bits == bits) return &list[c];
  if (*count == kMaxCandidates) return NULL;
  list[*count] = (candidate){bits, 0, window};
  return &list[(*count)++];
}

segc_status segc_sw_reuse_plan(segc_sw_reuse *reuse, const segc_sw_geometry *g,
                               segc_sw_padding padding, const float *image,
                               const int64_t (*starts)[3], int windows,
                               int capacity) {
  memset(reuse, 0, sizeof *reuse);
  reuse->windows = windows;
  const size_t count_or_one = (size_t)(windows > 0 ? windows : 1);
  reuse->kept_index = malloc(sizeof(int32_t) * count_or_one);
  uint32_t *window_bits = malloc(sizeof(uint32_t) * count_or_one);
  if (!reuse->kept_index || !window_bits) {
    free(window_bits);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "sliding window: out of memory");
  }
  candidate list[kMaxCandidates];
  int count = 0;
  for (int w = 0; w < windows; ++w) {
    reuse->kept_index[w] = -1;
    if (capacity == 0 ||
        !segc_sw_window_constant(g, padding, image, starts[w], &window_bits[w]))
      continue;
    candidate *c = find_candidate(list, &count, window_bits[w], w);
    if (c) {
      c->windows++;
      reuse->kept_index[w] = -2;  // constant; kept or not decided below
    }
  }
  // Keep the values most windows share (ties: the one seen first).
  while (reuse->kept_count < capacity) {
    int best = -1;
    for (int c = 0; c < count; ++c)
      if (list[c].windows >= 2 &&
          (best < 0 || list[c].windows > list[best].windows ||
           (list[c].windows == list[best].windows &&
            list[c].first_window < list[best].first_window)))
        best = c;
    if (best < 0) break;
    segc_sw_kept_window *k = &reuse->kept[reuse->kept_count];
    k->bits = list[best].bits;
    k->remaining = list[best].windows;
    k->fill_sample = -1;
    for (int w = 0; w < windows; ++w)
      if (reuse->kept_index[w] == -2 && window_bits[w] == k->bits)
        reuse->kept_index[w] = reuse->kept_count;
    list[best].windows = 0;  // taken
    reuse->kept_count++;
  }
  for (int w = 0; w < windows; ++w)
    if (reuse->kept_index[w] == -2) reuse->kept_index[w] = -1;
  free(window_bits);
  return SEGC_OK;
}

segc_status segc_sw_reuse_fill(segc_sw_reuse *reuse, int index,
                               segc_arena *scratch, const segc_tensor *batch,
                               int64_t sample) {
  segc_sw_kept_window *k = &reuse->kept[index];
  const segc_tensor from = segc_tensor_sample(batch, sample);
  k->bytes = segc_tensor_bytes(&from);
  void *data;
  SEGC_TRY(segc_arena_alloc(scratch, k->bytes, &data));
  k->logits = from;
  k->logits.data = data;
  const segc_status status =
      segc_device_copy(data, scratch->device, from.data, from.device, k->bytes);
  if (status != SEGC_OK) {
    segc_arena_free(scratch, data, k->bytes);
    k->logits.data = NULL;
    return status;
  }
  k->filled = true;
  reuse->live_bytes += k->bytes;
  if (reuse->live_bytes > reuse->peak_bytes)
    reuse->peak_bytes = reuse->live_bytes;
  return SEGC_OK;
}

static void give_back_kept(segc_sw_reuse *reuse, segc_sw_kept_window *k,
                           segc_arena *scratch) {
  if (!k->logits.data) return;
  segc_arena_free(scratch, k->logits.data, k->bytes);
  k->logits.data = NULL;
  reuse->live_bytes -= k->bytes;
}

void segc_sw_reuse_blended(segc_sw_reuse *reuse, int index,
                           segc_arena *scratch) {
  segc_sw_kept_window *k = &reuse->kept[index];
  if (--k->remaining == 0) give_back_kept(reuse, k, scratch);
}

void segc_sw_reuse_free(segc_sw_reuse *reuse, segc_arena *scratch) {
  for (int i = 0; i < reuse->kept_count; ++i)
    give_back_kept(reuse, &reuse->kept[i], scratch);
  free(reuse->kept_index);
  reuse->kept_index = NULL;
}
