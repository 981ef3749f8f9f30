// Builders for NIfTI files made byte by byte in the tests (niftilib's header
// structs and byte swapper, zlib for gzip) and the read-and-compare helpers
// shared by test_nifti_crafted.c and test_nifti_bad.c. Test code only.
#ifndef SEGC_TESTS_NIFTI_CRAFT_H
#define SEGC_TESTS_NIFTI_CRAFT_H

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <nifti2_io.h>

#include "data/nifti_io.h"
#include "util/test_util.h"

static const char *g_dir;  // the test's temporary folder

typedef struct {
  uint8_t *bytes;
  size_t size;
} blob;

static void blob_free(blob *b) {
  free(b->bytes);
  b->bytes = NULL;
  b->size = 0;
}

static int bytes_per_voxel(int datatype) {
  switch (datatype) {
    case NIFTI_TYPE_UINT8: case NIFTI_TYPE_INT8: return 1;
    case NIFTI_TYPE_INT16: case NIFTI_TYPE_UINT16: return 2;
    case NIFTI_TYPE_FLOAT64: return 8;
    default: return 4;
  }
}

// Stored voxel n (file order) as double, and its bytes (host order).
static double stored_value(int datatype, int64_t n) {
  const uint64_t h = (uint64_t)n * 2654435761u;
  switch (datatype) {
    case NIFTI_TYPE_UINT8: return (double)(h % 256);
    case NIFTI_TYPE_INT8: return (double)(int64_t)(h % 256) - 128;
    case NIFTI_TYPE_INT16: return (double)(int64_t)(h % 65536) - 32768;
    case NIFTI_TYPE_UINT16: return (double)(h % 65536);
    case NIFTI_TYPE_INT32: return (double)(int32_t)(uint32_t)h;
    case NIFTI_TYPE_UINT32: return (double)(uint32_t)h;
    case NIFTI_TYPE_FLOAT32: return (double)(float)(0.37 * (double)n - 5.0);
    default: return 0.37 * (double)n - 5.0 + 1e-9;
  }
}

static void store_value(int datatype, double v, uint8_t *p) {
  switch (datatype) {
    case NIFTI_TYPE_UINT8: *p = (uint8_t)v; break;
    case NIFTI_TYPE_INT8: *(int8_t *)p = (int8_t)v; break;
    case NIFTI_TYPE_INT16: { int16_t x = (int16_t)v; memcpy(p, &x, 2); break; }
    case NIFTI_TYPE_UINT16: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
    case NIFTI_TYPE_INT32: { int32_t x = (int32_t)v; memcpy(p, &x, 4); break; }
    case NIFTI_TYPE_UINT32: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
    case NIFTI_TYPE_FLOAT32: { float x = (float)v; memcpy(p, &x, 4); break; }
    default: memcpy(p, &v, 8); break;
  }
}

// How a file is laid out; the header is filled from it, then `edit` may
// change fields before the bytes are assembled.
typedef struct {
  int version;  // 1 or 2
  int datatype;
  int64_t dim[8];
  int64_t vox_offset;
  bool big_endian;
} layout;

static layout basic(int datatype) {
  layout l = {1, datatype, {3, 3, 4, 5, 1, 1, 1, 1}, 352, false};
  return l;
}

static void fill_nifti1(const layout *l, nifti_1_header *h) {
  memset(h, 0, sizeof *h);
  h->sizeof_hdr = 348;
  for (int d = 0; d < 8; ++d) h->dim[d] = (short)l->dim[d];
  h->datatype = (short)l->datatype;
  h->bitpix = (short)(8 * bytes_per_voxel(l->datatype));
  const float pixdim[8] = {1, 2, 3, 4, 1, 1, 1, 1};
  memcpy(h->pixdim, pixdim, sizeof pixdim);
  h->vox_offset = (float)l->vox_offset;
  h->scl_slope = 1.0f;
  h->sform_code = 1;
  const float srow[3][4] = {{2, 0, 0, -10}, {0, 3, 0, 20}, {0, 0, 4, 30.5f}};
  memcpy(h->srow_x, srow[0], sizeof srow[0]);
  memcpy(h->srow_y, srow[1], sizeof srow[1]);
  memcpy(h->srow_z, srow[2], sizeof srow[2]);
  memcpy(h->magic, "n+1\0", 4);
}

static void fill_nifti2(const layout *l, nifti_2_header *h) {
  memset(h, 0, sizeof *h);
  h->sizeof_hdr = 540;
  memcpy(h->magic, "n+2\0\r\n\032\n", 8);
  for (int d = 0; d < 8; ++d) h->dim[d] = l->dim[d];
  h->datatype = (int16_t)l->datatype;
  h->bitpix = (int16_t)(8 * bytes_per_voxel(l->datatype));
  const double pixdim[8] = {1, 2, 3, 4, 1, 1, 1, 1};
  memcpy(h->pixdim, pixdim, sizeof pixdim);
  h->vox_offset = l->vox_offset;
  h->scl_slope = 1.0;
  h->sform_code = 1;
  // 0.1 is not a float32: NIfTI-2 keeps it as a double.
  const double srow[3][4] = {{2.1, 0, 0, -10.1}, {0, 3, 0, 20}, {0, 0, 4, 30.5}};
  memcpy(h->srow_x, srow[0], sizeof srow[0]);
  memcpy(h->srow_y, srow[1], sizeof srow[1]);
  memcpy(h->srow_z, srow[2], sizeof srow[2]);
}

// Changes header fields (host byte order) before the bytes are assembled;
// `header` is a nifti_1_header or nifti_2_header as `version` says.
typedef void (*header_edit)(void *header, int version);

// Header + zeros up to vox_offset + voxels (only as many as `voxels` says).
static blob assemble(const layout *l, header_edit edit, int64_t voxels) {
  union { nifti_1_header n1; nifti_2_header n2; } h;
  if (l->version == 1) fill_nifti1(l, &h.n1); else fill_nifti2(l, &h.n2);
  if (edit) edit(&h, l->version);
  const size_t header_size = l->version == 1 ? 348 : 540;
  const int bpv = bytes_per_voxel(l->datatype);
  blob b;
  b.size = (size_t)l->vox_offset + (size_t)(voxels * bpv);
  b.bytes = calloc(b.size > header_size ? b.size : header_size, 1);
  for (int64_t n = 0; n < voxels; ++n) {
    uint8_t *p = b.bytes + l->vox_offset + n * bpv;
    store_value(l->datatype, stored_value(l->datatype, n), p);
    if (l->big_endian)
      for (int a = 0, z = bpv - 1; a < z; ++a, --z) {
        const uint8_t t = p[a]; p[a] = p[z]; p[z] = t;
      }
  }
  if (l->big_endian) swap_nifti_header(&h, l->version);  // niftilib's swapper
  memcpy(b.bytes, &h, header_size);
  if (b.size < header_size) b.size = header_size;
  return b;
}

static int64_t numel(const layout *l) {
  int64_t n = 1;
  for (int d = 1; d <= l->dim[0] && d <= 3; ++d) n *= l->dim[d];
  return n;
}

static blob gzip_blob(const blob *plain) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  blob out = {malloc(plain->size + 1024), 0};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
  zs.next_in = plain->bytes;
  zs.avail_in = (uInt)plain->size;
  zs.next_out = out.bytes;
  zs.avail_out = (uInt)(plain->size + 1024);
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) abort();
  out.size = zs.total_out;
  deflateEnd(&zs);
  return out;
}

// Writes the bytes to a file, reads them back through segc_nifti_read and
// segc_nifti_read_memory; both must agree. Returns the file read's status.
static segc_status read_blob(const blob *b, const char *name, segc_volume *v,
                             segc_nifti_info *info) {
  const char *path = test_path(g_dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b->bytes, 1, b->size, f) != b->size || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  segc_volume mem;
  segc_nifti_info mem_info;
  const segc_status from_memory = segc_nifti_read_memory(b->bytes, b->size, name, &mem, &mem_info);
  char memory_message[1024];
  snprintf(memory_message, sizeof memory_message, "%s", segc_error_message());
  segc_clear_error();
  const segc_status from_file = segc_nifti_read(path, v, info);
  CHECK(from_file == from_memory, "%s: file gives %d, memory %d (%s)", name,
        from_file, from_memory, memory_message);
  if (from_file == SEGC_OK && from_memory == SEGC_OK)
    CHECK(mem.dtype == v->dtype && memcmp(mem.data, v->data, (size_t)segc_volume_numel(v) *
                                          segc_dtype_size(v->dtype)) == 0,
          "%s: memory and file reads differ", name);
  if (from_file != SEGC_OK) {
    CHECK(test_contains(segc_error_message(), path) && strchr(segc_error_message(), '\n') == NULL,
          "%s: message must be one line naming the file: %s", name, segc_error_message());
    CHECK(v->data == NULL, "%s: failed read left data", name);
  }
  segc_volume_free(&mem);
  return from_file;
}

#endif
