// Reading NIfTI-1/2 volumes from memory (plain or gzip) and from files.
//
// niftilib is lenient with bad files (it prints to stderr, allocates what
// the dims say before reading, and accepts several malformed headers), so
// segc parses the header itself and reads exactly the voxel bytes the
// validated header implies. A file is mapped into memory and goes through the same parser as
// a memory buffer, which is what the fuzzer exercises.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/nifti_internal.h"
#include "data/nifti_io.h"

// Deflate cannot expand data by more than 1032:1 (a 258-byte match per ~2
// bits), so a header that needs more bytes than this from a gzip stream is
// lying; refusing it up front keeps a tiny file from allocating gigabytes.
enum { kDeflateMaxRatio = 1032 };
// segc_volume_alloc's limit on voxels.
static const int64_t kMaxVoxels = (int64_t)1 << 40;
// Inflated bytes converted at a time.
enum { kSlabBytes = 8 << 20 };

// Bytes of a NIfTI file held in memory, read front to back, inflated on the
// way when they are gzip.
typedef struct {
  const uint8_t *bytes;
  size_t size;
  size_t pos;  // plain: next byte to read; gzip: next byte to feed zlib
  bool gzip;
  z_stream zs;
  bool zs_ready;
  bool ended;      // gzip: no more output
  bool truncated;  // gzip: the input ended inside a member
  const char *name;
} byte_source;

static bool is_gzip_magic(const uint8_t *p, size_t left) {
  return left >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

static segc_status source_open(byte_source *s, const void *bytes, size_t size,
                               const char *name) {
  memset(s, 0, sizeof *s);
  s->bytes = bytes;
  s->size = size;
  s->name = name;
  s->gzip = is_gzip_magic(s->bytes, size);
  if (!s->gzip) return SEGC_OK;
  if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK)  // gzip wrapper only
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot start zlib inflate", name);
  s->zs_ready = true;
  return SEGC_OK;
}

static void source_close(byte_source *s) {
  if (s->zs_ready) inflateEnd(&s->zs);
  s->zs_ready = false;
}

static segc_status inflate_into(byte_source *s, uint8_t *dst, size_t want,
                                size_t *got) {
  z_stream *zs = &s->zs;
  while (*got < want && !s->ended) {
    if (zs->avail_in == 0) {
      if (s->pos == s->size) {  // input used up inside a member
        s->ended = s->truncated = true;
        break;
      }
      const size_t feed = s->size - s->pos < UINT_MAX ? s->size - s->pos : UINT_MAX;
      zs->next_in = (Bytef *)(uintptr_t)(s->bytes + s->pos);
      zs->avail_in = (uInt)feed;
      s->pos += feed;
    }
    const size_t room = want - *got < UINT_MAX ? want - *got : UINT_MAX;
    zs->next_out = dst + *got;
    zs->avail_out = (uInt)room;
    const int ret = inflate(zs, Z_NO_FLUSH);
    *got += room - zs->avail_out;
    if (ret == Z_STREAM_END) {
      // Another gzip member may follow (as gzip and zlib's gzread allow);
      // anything else after a member is ignored, as gzip does.
      const size_t next = (size_t)(zs->next_in - s->bytes);
      if (is_gzip_magic(s->bytes + next, s->size - next)) {
        if (inflateReset(zs) != Z_OK)
          return SEGC_FAIL(SEGC_ERR_INTERNAL, "%s: inflateReset failed", s->name);
      } else {
        s->ended = true;
      }
    } else if (ret == Z_BUF_ERROR && zs->avail_in == 0) {
      continue;  // needs more input: fed (or found missing) next round
    } else if (ret == Z_MEM_ERROR) {
      return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: zlib ran out of memory", s->name);
    } else if (ret != Z_OK) {
      return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: corrupt gzip data (%s)", s->name,
                       zs->msg ? zs->msg : "zlib error");
    }
  }
  return SEGC_OK;
}

// Reads up to `want` bytes; *got < want only at the end of the data.
static segc_status source_read(byte_source *s, void *dst, size_t want,
                               size_t *got) {
  *got = 0;
  if (s->gzip) return inflate_into(s, dst, want, got);
  const size_t n = s->size - s->pos < want ? s->size - s->pos : want;
  if (n) memcpy(dst, s->bytes + s->pos, n);
  s->pos += n;
  *got = n;
  return SEGC_OK;
}

static segc_status source_skip(byte_source *s, size_t count, size_t *skipped) {
  uint8_t scratch[16384];
  *skipped = 0;
  while (*skipped < count) {
    const size_t want = count - *skipped < sizeof scratch ? count - *skipped : sizeof scratch;
    size_t got;
    SEGC_TRY(source_read(s, scratch, want, &got));
    *skipped += got;
    if (got < want) break;
  }
  return SEGC_OK;
}

// The voxel grid and conversion a validated header asks for.
typedef struct {
  int64_t dim[3];
  int64_t numel;
  int64_t voxel_bytes;
  int64_t vox_offset;
  segc_nifti_conversion conversion;
} read_plan;

static segc_status check_dims(const segc_nifti_header *h, const char *name,
                              read_plan *p) {
  const int64_t ndim = h->dim[0];
  if (ndim < 1 || ndim > 7)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: dim[0] is %lld (the number of dimensions must be "
                     "1..7)", name, (long long)ndim);
  if (ndim >= 5)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: a %lld-D image; segc reads 3D images (or 4D with "
                     "one volume)", name, (long long)ndim);
  for (int a = 1; a <= ndim; ++a)
    if (h->dim[a] < 1)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: dim[%d] is %lld (sizes must be positive)", name, a,
                       (long long)h->dim[a]);
  if (ndim == 4 && h->dim[4] != 1)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: a 4D image with %lld volumes (dim[4]); segc reads "
                     "one volume (split the series first)", name,
                     (long long)h->dim[4]);
  int64_t numel = 1;
  for (int a = 0; a < 3; ++a) {
    p->dim[a] = a < ndim ? h->dim[a + 1] : 1;
    if (__builtin_mul_overflow(numel, p->dim[a], &numel) || numel > kMaxVoxels)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: voxel count %lld x %lld x %lld overflows (more "
                       "than 2^40 voxels)", name, (long long)h->dim[1],
                       (long long)(ndim >= 2 ? h->dim[2] : 1),
                       (long long)(ndim >= 3 ? h->dim[3] : 1));
  }
  p->numel = numel;
  return SEGC_OK;
}

static segc_status plan_read(const segc_nifti_header *h, const char *name,
                             read_plan *p) {
  memset(p, 0, sizeof *p);
  SEGC_TRY(check_dims(h, name, p));
  segc_nifti_conversion *c = &p->conversion;
  const char *type_name;
  c->datatype = h->datatype;
  c->file_bytes = segc_nifti_datatype_bytes(h->datatype, &c->out_dtype, &type_name);
  if (c->file_bytes == 0 && type_name)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: datatype %d (%s) is not supported; segc reads uint8, "
                     "int8, int16, uint16, int32, uint32, float32 and float64",
                     name, h->datatype, type_name);
  if (c->file_bytes == 0)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "%s: unknown datatype code %d", name,
                     h->datatype);
  p->voxel_bytes = p->numel * c->file_bytes;  // < 2^43: no overflow
  c->swap = h->swapped;
  // nibabel's rule: a slope of 0 or a non-finite slope means no scaling; a
  // valid slope with a non-finite intercept is an error.
  const double slope = h->scl_slope, inter = h->scl_inter;
  if (slope != 0.0 && isfinite(slope)) {
    if (!isfinite(inter))
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: scl_slope is %g but scl_inter is %g (not finite)",
                       name, slope, inter);
    if (slope != 1.0 || inter != 0.0) {
      c->scaled = true;
      c->slope = slope;
      c->inter = inter;
      c->out_dtype = SEGC_F32;
    }
  }
  const double min_offset = h->version == 1 ? SEGC_NIFTI1_MIN_VOX_OFFSET
                                            : SEGC_NIFTI2_MIN_VOX_OFFSET;
  const double offset = h->vox_offset;
  if (!(offset >= min_offset) || offset != floor(offset))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: vox_offset is %g; a single-file NIfTI-%d needs a "
                     "whole number >= %g", name, offset, h->version, min_offset);
  if (offset > (double)((int64_t)1 << 62))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: vox_offset %g is beyond the end of the file", name,
                     offset);
  p->vox_offset = (int64_t)offset;
  return SEGC_OK;
}

// Fails when the data cannot hold vox_offset + voxel bytes: exactly for
// plain bytes, by deflate's best ratio for gzip.
static segc_status check_size_bound(const byte_source *s, const read_plan *p,
                                    const char *name) {
  const uint64_t needed = (uint64_t)p->vox_offset + (uint64_t)p->voxel_bytes;
  if (!s->gzip) {
    if ((uint64_t)p->vox_offset > s->size)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: vox_offset %lld is beyond the end of the file "
                       "(%zu bytes)", name, (long long)p->vox_offset, s->size);
    if (needed > s->size)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "%s: truncated: the header needs %lld voxel bytes "
                       "(%lldx%lldx%lld, %d-byte voxels) after vox_offset %lld, "
                       "the file has %llu", name, (long long)p->voxel_bytes,
                       (long long)p->dim[0], (long long)p->dim[1],
                       (long long)p->dim[2], p->conversion.file_bytes,
                       (long long)p->vox_offset,
                       (unsigned long long)(s->size - (size_t)p->vox_offset));
    return SEGC_OK;
  }
  const double most = (double)s->size * kDeflateMaxRatio + 65536.0;
  if ((double)needed > most)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: truncated or lying header: it needs %llu bytes "
                     "(vox_offset + %lldx%lldx%lld voxels) but %zu bytes of "
                     "gzip cannot hold more than %.0f", name,
                     (unsigned long long)needed, (long long)p->dim[0],
                     (long long)p->dim[1], (long long)p->dim[2], s->size, most);
  return SEGC_OK;
}

// Reads the rest of the gzip member so zlib checks its CRC and length.
static segc_status drain_gzip(byte_source *s) {
  uint8_t scratch[16384];
  while (!s->ended) {
    size_t got;
    SEGC_TRY(source_read(s, scratch, sizeof scratch, &got));
  }
  if (s->truncated)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: truncated gzip stream (it ends before its "
                     "end-of-stream marker)", s->name);
  return SEGC_OK;
}

static void fill_info(const segc_nifti_header *h, const read_plan *p,
                      segc_nifti_info *info) {
  memset(info, 0, sizeof *info);
  info->nifti_version = h->version;
  info->file_datatype = h->datatype;
  info->scl_slope = p->conversion.scaled ? p->conversion.slope : 1.0;
  info->scl_inter = p->conversion.scaled ? p->conversion.inter : 0.0;
  info->qform_code = h->qform_code;
  info->sform_code = h->sform_code;
  for (int a = 0; a < 3; ++a) info->pixdim[a] = h->pixdim[a + 1];
  info->xyzt_units = h->xyzt_units;
  info->header_read = true;
  for (int a = 0; a < 3; ++a) {
    info->quatern[a] = h->quatern[a];
    info->qoffset[a] = h->qoffset[a];
  }
  info->qfac = h->pixdim[0];
  memcpy(info->srow, h->srow, sizeof info->srow);
}

static segc_status read_header(byte_source *s, const char *name,
                               segc_nifti_header *h) {
  uint8_t bytes[SEGC_NIFTI2_HEADER_BYTES];
  size_t got;
  SEGC_TRY(source_read(s, bytes, 4, &got));
  const int announced = got == 4 ? segc_nifti_announced_header_bytes(bytes) : 0;
  size_t more = 0;
  if (announced)
    SEGC_TRY(source_read(s, bytes + 4, (size_t)announced - 4, &more));
  const bool truncated = s->truncated;
  // Not NIfTI: 128 more bytes let the decoder name a DICOM file. Whatever
  // that read finds, the error stays about the header.
  if (!announced && got == 4 && source_read(s, bytes + 4, 128, &more) != SEGC_OK)
    more = 0;
  got += more;
  const segc_status status = segc_nifti_decode_header(bytes, got, name, h);
  if (status != SEGC_OK && truncated)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: truncated gzip stream: it ends after %zu bytes, "
                     "inside the header", name, got);
  return status;
}

// Inflates the voxels slab by slab (a few MiB of planes at a time) and
// converts each into `out`, so a big .nii.gz needs no second full-size buffer.
static segc_status inflate_voxels(byte_source *s, const segc_nifti_header *h,
                                  const read_plan *p, const char *name,
                                  segc_volume *out, int64_t *nonfinite) {
  size_t skipped;
  const size_t gap = (size_t)(p->vox_offset - h->header_bytes);
  SEGC_TRY(source_skip(s, gap, &skipped));
  if (skipped < gap)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "%s: %s: vox_offset %lld is beyond the end of the data "
                     "(%lld bytes)", name,
                     s->truncated ? "truncated gzip stream" : "lying header",
                     (long long)p->vox_offset,
                     (long long)(h->header_bytes + (int64_t)skipped));
  const size_t plane = (size_t)(p->dim[0] * p->dim[1] * p->conversion.file_bytes);
  const int64_t planes = plane >= kSlabBytes ? 1 : (int64_t)(kSlabBytes / plane);
  const int64_t slab_planes = planes < p->dim[2] ? planes : p->dim[2];
  uint8_t *slab = malloc(plane * (size_t)slab_planes);
  if (!slab)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "%s: cannot allocate %zu bytes", name,
                     plane * (size_t)slab_planes);
  segc_status status = SEGC_OK;
  for (int64_t k0 = 0; k0 < p->dim[2] && status == SEGC_OK; k0 += slab_planes) {
    const int64_t k1 = k0 + slab_planes < p->dim[2] ? k0 + slab_planes : p->dim[2];
    const size_t want = plane * (size_t)(k1 - k0);
    size_t got;
    status = source_read(s, slab, want, &got);
    if (status == SEGC_OK && got < want)
      status = SEGC_FAIL(SEGC_ERR_FORMAT,
                         "%s: truncated%s: the header needs %lld voxel bytes "
                         "(%lldx%lldx%lld, %d-byte voxels), the data holds %lld",
                         name, s->truncated ? " gzip stream" : "",
                         (long long)p->voxel_bytes, (long long)p->dim[0],
                         (long long)p->dim[1], (long long)p->dim[2],
                         p->conversion.file_bytes,
                         (long long)((size_t)k0 * plane + got));
    if (status == SEGC_OK)
      *nonfinite += segc_nifti_file_to_volume(slab, p->dim, k0, k1,
                                              &p->conversion, out->data);
  }
  free(slab);
  return status == SEGC_OK ? drain_gzip(s) : status;
}

static segc_status read_source(byte_source *s, const char *name,
                               segc_volume *out, segc_nifti_info *info) {
  segc_nifti_header h;
  read_plan plan;
  double affine[4][4];
  SEGC_TRY(read_header(s, name, &h));
  SEGC_TRY(plan_read(&h, name, &plan));
  SEGC_TRY(segc_nifti_best_affine(&h, name, affine));
  SEGC_TRY(check_size_bound(s, &plan, name));
  segc_status status = segc_volume_alloc(out, plan.conversion.out_dtype, plan.dim);
  if (status != SEGC_OK) return segc_fail_context(status, "%s", name);
  int64_t nonfinite = 0;
  if (s->gzip) {
    status = inflate_voxels(s, &h, &plan, name, out, &nonfinite);
  } else {  // plain bytes are converted in place, all planes at once
    nonfinite = segc_nifti_file_to_volume(s->bytes + plan.vox_offset, plan.dim,
                                          0, plan.dim[2], &plan.conversion,
                                          out->data);
  }
  if (status == SEGC_OK && nonfinite > 0) {
    const char *type_name;
    segc_nifti_datatype_bytes(h.datatype, NULL, &type_name);
    status = SEGC_FAIL(
        SEGC_ERR_NONFINITE,
        "%s: %lld of %lld voxels are NaN or Inf (%s data%s); float images "
        "often mark 'no data' with NaN: replace those voxels with a number "
        "before using the file", name, (long long)nonfinite,
        (long long)plan.numel, type_name,
        plan.conversion.scaled ? " after scl_slope/scl_inter, in float32"
        : h.datatype == SEGC_NIFTI_FLOAT64
            ? "; values beyond float32's range count as Inf" : "");
  }
  if (status != SEGC_OK) {
    segc_volume_free(out);
    return status;
  }
  memcpy(out->affine, affine, sizeof affine);
  if (info) fill_info(&h, &plan, info);
  return SEGC_OK;
}

segc_status segc_nifti_read_memory(const void *bytes, size_t size,
                                   const char *name, segc_volume *out,
                                   segc_nifti_info *info) {
  memset(out, 0, sizeof *out);
  if (info) memset(info, 0, sizeof *info);
  if (!name) name = "(memory)";
  if (!bytes && size > 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: NULL buffer of %zu bytes", name, size);
  static const uint8_t empty[1];
  byte_source s;
  SEGC_TRY(source_open(&s, bytes ? bytes : empty, size, name));
  const segc_status status = read_source(&s, name, out, info);
  source_close(&s);
  return status;
}

segc_status segc_nifti_read(const char *path, segc_volume *out,
                            segc_nifti_info *info) {
  memset(out, 0, sizeof *out);
  if (info) memset(info, 0, sizeof *info);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot stat: %s", path, strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return SEGC_FAIL(SEGC_ERR_IO, "%s: not a regular file%s", path,
                     S_ISDIR(st.st_mode)
                         ? " but a folder (a DICOM series? segc reads NIfTI: "
                           "convert it with dcm2niix)"
                         : "");
  }
  const size_t size = (size_t)st.st_size;
  void *map = NULL;
  if (size > 0) {
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      close(fd);
      return SEGC_FAIL(SEGC_ERR_IO, "%s: cannot map %zu bytes: %s", path, size,
                       strerror(err));
    }
    // Advice only: a failure changes nothing but speed.
    (void)madvise(map, size, MADV_SEQUENTIAL);
  }
  close(fd);  // the mapping stays valid
  const segc_status status = segc_nifti_read_memory(map, size, path, out, info);
  if (map && munmap(map, size) != 0 && status == SEGC_OK) {
    const int err = errno;
    segc_volume_free(out);
    return SEGC_FAIL(SEGC_ERR_IO, "%s: munmap failed: %s", path, strerror(err));
  }
  return status;
}
