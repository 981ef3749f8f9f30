// The byte stream of a file being written: plain, or one gzip member whose
// deflate data is compressed in parallel.
//
// Parallel gzip (the pigz scheme): the input is cut into blocks of a fixed
// size; each block is deflated on its own, primed with the 32 KiB before it
// as dictionary (so matches still reach back across the cut), and ended with
// a sync flush (byte-aligned), the last one with Z_FINISH. The blocks'
// outputs concatenate into one valid deflate stream; the CRC is combined
// from per-block CRCs. Block boundaries do not depend on the thread count,
// so the file's bytes do not either.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/nifti_internal.h"

enum {
  BLOCK_BYTES = 1 << 20,
  BLOCKS_PER_BATCH = 32,
  WINDOW_BYTES = 32768,  // deflate's reach
  GZIP_LEVEL = 1,        // nibabel's default: fast, labels compress well
};

struct segc_nifti_sink {
  int fd;
  bool gzip;
  const char *name;
  uint8_t *batch;  // (BLOCKS_PER_BATCH * BLOCK_BYTES) input awaiting compression
  size_t batch_used;
  uint8_t window[WINDOW_BYTES];  // the input just before `batch`
  size_t window_used;
  uint8_t *packed;  // per block: deflateBound(BLOCK_BYTES) output bytes
  size_t packed_stride;
  uLong crc;
  uint64_t total_in;
};

static segc_status write_fully(segc_nifti_sink *s, const void *data, size_t n) {
  const uint8_t *p = data;
  while (n > 0) {
    const ssize_t wrote = write(s->fd, p, n);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0)
      return SEGC_FAIL(SEGC_ERR_IO, "%s: write failed: %s", s->name,
                       wrote < 0 ? strerror(errno) : "no progress");
    p += wrote;
    n -= (size_t)wrote;
  }
  return SEGC_OK;
}

segc_status segc_nifti_sink_open(int fd, bool gzip, const char *name,
                                 segc_nifti_sink **out) {
  *out = NULL;
  segc_nifti_sink *s = calloc(1, sizeof *s);
  if (!s) return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot allocate a writer", name);
  s->fd = fd;
  s->gzip = gzip;
  s->name = name;
  s->crc = crc32(0L, Z_NULL, 0);
  if (gzip) {
    z_stream probe;
    memset(&probe, 0, sizeof probe);
    if (deflateInit2(&probe, GZIP_LEVEL, Z_DEFLATED, -MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      free(s);
      return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot start zlib", name);
    }
    // + 16: the sync flush's empty stored block and the final block header.
    s->packed_stride = deflateBound(&probe, BLOCK_BYTES) + 16;
    deflateEnd(&probe);
    s->batch = malloc((size_t)BLOCKS_PER_BATCH * BLOCK_BYTES);
    s->packed = malloc((size_t)BLOCKS_PER_BATCH * s->packed_stride);
    if (!s->batch || !s->packed) {
      s->fd = -1;  // the caller still owns fd on failure
      segc_nifti_sink_abandon(s);
      return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot allocate %d MiB of gzip buffers",
                       name, 2 * BLOCKS_PER_BATCH);
    }
    // Header: no name, mtime 0 (reproducible), XFL 4 (fastest), OS 3 (Unix).
    const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3};
    const segc_status status = write_fully(s, header, sizeof header);
    if (status != SEGC_OK) {
      s->fd = -1;
      segc_nifti_sink_abandon(s);
      return status;
    }
  }
  *out = s;
  return SEGC_OK;
}

// Deflates block b of the batch; returns its output size, 0 on a zlib error.
static size_t deflate_block(segc_nifti_sink *s, size_t b, size_t blocks,
                            bool final) {
  const uint8_t *in = s->batch + b * BLOCK_BYTES;
  const size_t in_bytes = b + 1 < blocks ? BLOCK_BYTES : s->batch_used - b * BLOCK_BYTES;
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, -MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return 0;
  const uint8_t *dict = b == 0 ? s->window : in - WINDOW_BYTES;
  const size_t dict_bytes = b == 0 ? s->window_used : WINDOW_BYTES;
  if (dict_bytes > 0 && deflateSetDictionary(&zs, dict, (uInt)dict_bytes) != Z_OK) {
    deflateEnd(&zs);
    return 0;
  }
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)in_bytes;
  zs.next_out = s->packed + b * s->packed_stride;
  zs.avail_out = (uInt)s->packed_stride;
  const bool last = final && b + 1 == blocks;
  const int ret = deflate(&zs, last ? Z_FINISH : Z_SYNC_FLUSH);
  // A sync flush is complete when input is used up and output space is left.
  const bool ok = last ? ret == Z_STREAM_END
                       : ret == Z_OK && zs.avail_in == 0 && zs.avail_out > 0;
  const size_t produced = s->packed_stride - zs.avail_out;
  deflateEnd(&zs);
  return ok ? produced : 0;
}

static segc_status flush_batch(segc_nifti_sink *s, bool final) {
  // An empty final batch still needs a block to carry the end marker.
  size_t blocks = (s->batch_used + BLOCK_BYTES - 1) / BLOCK_BYTES;
  if (blocks == 0) {
    if (!final) return SEGC_OK;
    blocks = 1;
  }
  size_t produced[BLOCKS_PER_BATCH];
  uLong crcs[BLOCKS_PER_BATCH];
#pragma omp parallel for schedule(dynamic, 1) if (blocks > 1)
  for (size_t b = 0; b < blocks; ++b) {
    const size_t offset = b * BLOCK_BYTES;
    const size_t bytes = s->batch_used > offset
                             ? (s->batch_used - offset < BLOCK_BYTES ? s->batch_used - offset : BLOCK_BYTES)
                             : 0;
    produced[b] = deflate_block(s, b, blocks, final);
    crcs[b] = crc32(0L, s->batch + offset, (uInt)bytes);
  }
  for (size_t b = 0; b < blocks; ++b) {
    if (produced[b] == 0)
      return SEGC_FAIL(SEGC_ERR_INTERNAL, "%s: zlib deflate failed", s->name);
    SEGC_TRY(write_fully(s, s->packed + b * s->packed_stride, produced[b]));
    const size_t offset = b * BLOCK_BYTES;
    const size_t bytes = s->batch_used > offset
                             ? (s->batch_used - offset < BLOCK_BYTES ? s->batch_used - offset : BLOCK_BYTES)
                             : 0;
    s->crc = crc32_combine(s->crc, crcs[b], (z_off_t)bytes);
  }
  // Keep the last 32 KiB of input as the next batch's dictionary.
  if (s->batch_used >= WINDOW_BYTES) {
    memcpy(s->window, s->batch + s->batch_used - WINDOW_BYTES, WINDOW_BYTES);
    s->window_used = WINDOW_BYTES;
  } else {
    const size_t keep = WINDOW_BYTES - s->batch_used < s->window_used
                            ? WINDOW_BYTES - s->batch_used : s->window_used;
    memmove(s->window, s->window + s->window_used - keep, keep);
    memcpy(s->window + keep, s->batch, s->batch_used);
    s->window_used = keep + s->batch_used;
  }
  s->total_in += s->batch_used;
  s->batch_used = 0;
  return SEGC_OK;
}

segc_status segc_nifti_sink_write(segc_nifti_sink *s, const void *data,
                                  size_t n) {
  if (!s->gzip) return write_fully(s, data, n);
  const uint8_t *p = data;
  const size_t capacity = (size_t)BLOCKS_PER_BATCH * BLOCK_BYTES;
  while (n > 0) {
    const size_t take = capacity - s->batch_used < n ? capacity - s->batch_used : n;
    memcpy(s->batch + s->batch_used, p, take);
    s->batch_used += take;
    p += take;
    n -= take;
    if (s->batch_used == capacity) SEGC_TRY(flush_batch(s, false));
  }
  return SEGC_OK;
}

segc_status segc_nifti_sink_finish(segc_nifti_sink *s) {
  segc_status status = SEGC_OK;
  if (s->gzip) {
    status = flush_batch(s, true);
    if (status == SEGC_OK) {
      const uint32_t crc = (uint32_t)s->crc, size = (uint32_t)s->total_in;
      const uint8_t trailer[8] = {
          (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24),
          (uint8_t)size, (uint8_t)(size >> 8), (uint8_t)(size >> 16), (uint8_t)(size >> 24)};
      status = write_fully(s, trailer, sizeof trailer);
    }
  }
  if (close(s->fd) != 0 && status == SEGC_OK)
    status = SEGC_FAIL(SEGC_ERR_IO, "%s: close failed: %s", s->name, strerror(errno));
  s->fd = -1;
  segc_nifti_sink_abandon(s);
  return status;
}

void segc_nifti_sink_abandon(segc_nifti_sink *s) {
  if (!s) return;
  if (s->fd >= 0) close(s->fd);
  free(s->batch);
  free(s->packed);
  free(s);
}
