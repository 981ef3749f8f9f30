// Reading side of checkpoint_pt.h: zip container -> data.pkl -> tensors.
#include "io/checkpoint_pt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/checkpoint_pt_internal.h"
#include "io/pickle.h"
#include "io/zip_archive.h"

// Both formats store numbers little-endian and are read in place.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "segc's file formats assume a little-endian host");

// Broadcast views (stride 0) may gather to more bytes than the file holds;
// past this factor (plus a fixed slack) the input is refused as hostile.
enum { kMaxExpansion = 16 };
static const uint64_t kExpansionSlack = (uint64_t)64 << 20;
// torch's readers accept archive format versions 1 to 10.
enum { kMinFormatVersion = 1, kMaxFormatVersion = 10 };

typedef struct {
  const segc_pt_parse_options *options;
  segc_zip_reader zip;
  char prefix[256];  // "<archive>/"
  size_t prefix_length;
  bool *crc_checked;  // per zip entry: storages shared by tensors are checked once
  uint64_t output_bytes, output_limit;
} pt_reader;

static const char *printable(segc_pickle_text text, char *buffer, size_t size) {
  size_t n = 0;
  for (size_t i = 0; i < text.length && n + 1 < size; ++i) {
    const unsigned char c = (unsigned char)text.bytes[i];
    buffer[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  buffer[n] = '\0';
  return buffer;
}

static segc_status entry_bytes(pt_reader *r, const segc_zip_entry *entry,
                               const uint8_t **data) {
  const size_t index = (size_t)(entry - r->zip.entries);
  const bool verify = r->options->verify_crc && !r->crc_checked[index];
  SEGC_TRY(segc_zip_entry_data(&r->zip, entry, verify, data));
  r->crc_checked[index] = true;
  return SEGC_OK;
}

static const segc_zip_entry *find_record(const pt_reader *r, const char *name,
                                         size_t name_length) {
  char full[512];
  if (r->prefix_length + name_length >= sizeof full) return NULL;
  memcpy(full, r->prefix, r->prefix_length);
  memcpy(full + r->prefix_length, name, name_length);
  return segc_zip_find(&r->zip, full, r->prefix_length + name_length);
}

// The archive's name is the folder holding data.pkl; every record lives there.
static segc_status find_prefix(pt_reader *r) {
  static const char kPickle[] = "/data.pkl";
  const size_t pickle_length = sizeof kPickle - 1;
  size_t found = 0;
  for (size_t i = 0; i < r->zip.count; ++i) {
    const segc_zip_entry *e = &r->zip.entries[i];
    if (e->name_length <= pickle_length ||
        memcmp(e->name + e->name_length - pickle_length, kPickle,
               pickle_length) != 0)
      continue;
    const size_t folder = e->name_length - pickle_length;
    if (memchr(e->name, '/', folder) || folder + 1 >= sizeof r->prefix)
      continue;
    if (found++ == 0) {
      memcpy(r->prefix, e->name, folder + 1);
      r->prefix_length = folder + 1;
      r->prefix[r->prefix_length] = '\0';
    }
  }
  if (found == 0)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "zip archive has no <archive>/data.pkl: not a torch.save "
                     "checkpoint");
  if (found > 1)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "zip archive holds %zu data.pkl records", found);
  if (find_record(r, "constants.pkl", 13))
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "this is a TorchScript archive (torch.jit.save); save "
                     "model.state_dict() with torch.save instead");
  return SEGC_OK;
}

static segc_status check_version_records(pt_reader *r) {
  const segc_zip_entry *entry = find_record(r, "version", 7);
  if (!entry)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "record %sversion is missing", r->prefix);
  const uint8_t *data;
  SEGC_TRY(entry_bytes(r, entry, &data));
  uint64_t version = 0;
  size_t digits = 0;
  while (digits < entry->size && data[digits] >= '0' && data[digits] <= '9' &&
         version < 1000000)
    version = version * 10 + (uint64_t)(data[digits++] - '0');
  const bool trailer_ok = digits == entry->size ||
                          (digits + 1 == entry->size && data[digits] == '\n');
  if (digits == 0 || !trailer_ok)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "record %sversion is not a number",
                     r->prefix);
  if (version < kMinFormatVersion || version > kMaxFormatVersion)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "archive format version %" PRIu64 " (readable: %d to %d)",
                     version, kMinFormatVersion, kMaxFormatVersion);
  entry = find_record(r, "byteorder", 9);
  if (entry) {
    SEGC_TRY(entry_bytes(r, entry, &data));
    if (entry->size == 3 && memcmp(data, "big", 3) == 0)
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                       "big-endian checkpoint (byteorder record says 'big')");
    if (entry->size != 6 || memcmp(data, "little", 6) != 0)
      return SEGC_FAIL(SEGC_ERR_FORMAT, "record %sbyteorder is neither "
                       "'little' nor 'big'", r->prefix);
  }
  return SEGC_OK;
}

typedef struct {
  const char *storage_name;  // the class torch.save names: torch.<name>
  const char *dtype_name;    // torch's dtype, for messages
  int dtype;                 // segc_dtype, or -1 when segc refuses it
} storage_type;

static const storage_type kStorageTypes[] = {
    {"FloatStorage", "float32", SEGC_F32},
    {"HalfStorage", "float16", SEGC_F16},
    {"BFloat16Storage", "bfloat16", SEGC_BF16},
    {"DoubleStorage", "float64", -1},
    {"LongStorage", "int64", -1},
    {"IntStorage", "int32", -1},
    {"ShortStorage", "int16", -1},
    {"CharStorage", "int8", -1},
    {"ByteStorage", "uint8", -1},
    {"BoolStorage", "bool", -1},
    {"ComplexFloatStorage", "complex64", -1},
    {"ComplexDoubleStorage", "complex128", -1},
    {"UntypedStorage", "untyped bytes", -1},
};

typedef struct {
  segc_dtype dtype;
  int64_t numel;           // elements in the storage
  const segc_zip_entry *entry;
} storage_ref;

// The persistent id torch.save writes for a storage:
// ('storage', torch.<Type>Storage, key, location, numel).
static segc_status decode_storage(pt_reader *r, const char *key,
                                  const segc_pickle_value *persid,
                                  storage_ref *out) {
  if (persid->kind != SEGC_PICKLE_PERSID)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "tensor '%s': storage argument has type %s",
                     key, segc_pickle_kind_name(persid->kind));
  const segc_pickle_value *id = persid->as.persistent_id;
  if (id->kind != SEGC_PICKLE_TUPLE || id->as.sequence.count != 5)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s': persistent id is not a 5-tuple", key);
  segc_pickle_value *const *f = id->as.sequence.items;
  if (f[0]->kind != SEGC_PICKLE_STRING ||
      !segc_pickle_text_equals(f[0]->as.string, "storage"))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s': persistent id is not a 'storage'", key);
  if (f[1]->kind != SEGC_PICKLE_GLOBAL ||
      !segc_pickle_text_equals(f[1]->as.global.module, "torch"))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s': storage type is not a torch class", key);
  if (f[2]->kind != SEGC_PICKLE_STRING || f[3]->kind != SEGC_PICKLE_STRING ||
      f[4]->kind != SEGC_PICKLE_INT || f[4]->as.integer < 0)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s': malformed storage key, location or size",
                     key);
  const storage_type *type = NULL;
  for (size_t i = 0; i < sizeof kStorageTypes / sizeof *kStorageTypes; ++i)
    if (segc_pickle_text_equals(f[1]->as.global.name,
                                kStorageTypes[i].storage_name))
      type = &kStorageTypes[i];
  char text[128];
  if (!type)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "tensor '%s': unknown storage type torch.%s", key,
                     printable(f[1]->as.global.name, text, sizeof text));
  if (type->dtype < 0)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "tensor '%s': dtype %s (torch.%s) is not supported; segc "
                     "reads float32, float16 and bfloat16", key,
                     type->dtype_name, type->storage_name);
  out->dtype = (segc_dtype)type->dtype;
  out->numel = f[4]->as.integer;
  // The record is data/<key>, the key compared byte for byte.
  char record[256];
  const segc_pickle_text storage_key = f[2]->as.string;
  out->entry = NULL;
  if (storage_key.length + 5 < sizeof record) {
    memcpy(record, "data/", 5);
    memcpy(record + 5, storage_key.bytes, storage_key.length);
    out->entry = find_record(r, record, 5 + storage_key.length);
  }
  snprintf(record, sizeof record, "data/%s",
           printable(storage_key, text, sizeof text));
  if (!out->entry)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s': storage record %s%s is missing", key,
                     r->prefix, record);
  const size_t element = segc_dtype_size(out->dtype);
  if ((uint64_t)out->numel > out->entry->size / element)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s': storage %s%s holds %" PRIu64 " bytes, "
                     "fewer than its %" PRId64 " %s elements need", key,
                     r->prefix, record, out->entry->size, out->numel,
                     type->dtype_name);
  return SEGC_OK;
}

static segc_status read_int_tuple(const char *key, const char *what,
                                  const segc_pickle_value *tuple,
                                  int64_t values[SEGC_PT_MAX_DIMS], int *count) {
  if (tuple->kind != SEGC_PICKLE_TUPLE)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "tensor '%s': %s has type %s, not tuple",
                     key, what, segc_pickle_kind_name(tuple->kind));
  if (tuple->as.sequence.count > SEGC_PT_MAX_DIMS)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "tensor '%s' has %zu dimensions (at most %d)", key,
                     tuple->as.sequence.count, (int)SEGC_PT_MAX_DIMS);
  *count = (int)tuple->as.sequence.count;
  for (int i = 0; i < *count; ++i) {
    const segc_pickle_value *v = tuple->as.sequence.items[i];
    if (v->kind != SEGC_PICKLE_INT || v->as.integer < 0)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "tensor '%s': %s[%d] is not a non-negative int", key,
                       what, i);
    values[i] = v->as.integer;
  }
  return SEGC_OK;
}

// Copies a strided view of `storage` into contiguous row-major `out`.
static void gather(const uint8_t *storage, size_t element, int64_t offset,
                   int ndim, const int64_t *shape, const int64_t *stride,
                   int64_t numel, uint8_t *out) {
  int64_t index[SEGC_PT_MAX_DIMS] = {0};
  int64_t source = offset;
  for (int64_t i = 0; i < numel; ++i) {
    memcpy(out + (size_t)i * element, storage + (size_t)source * element,
           element);
    for (int d = ndim - 1; d >= 0; --d) {  // odometer over the dimensions
      source += stride[d];
      if (++index[d] < shape[d]) break;
      source -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
}

static bool is_contiguous(int ndim, const int64_t *shape,
                          const int64_t *stride) {
  int64_t expected = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    if (shape[d] != 1 && stride[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

// torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
// requires_grad, backward_hooks[, metadata]) into a contiguous tensor.
static segc_status decode_tensor(pt_reader *r, const char *key,
                                 const segc_pickle_value *value,
                                 segc_pt_tensor *out) {
  if (value->kind == SEGC_PICKLE_CALL &&
      segc_pickle_is_global(value->as.call.callable, "torch._utils",
                            "_rebuild_parameter") &&
      value->as.call.args->as.sequence.count == 3)
    value = value->as.call.args->as.sequence.items[0];  // nn.Parameter(data)
  if (value->kind != SEGC_PICKLE_CALL ||
      !segc_pickle_is_global(value->as.call.callable, "torch._utils",
                             "_rebuild_tensor_v2")) {
    char module[128], name[128];
    if (value->kind == SEGC_PICKLE_CALL)
      return SEGC_FAIL(
          SEGC_ERR_UNSUPPORTED, "value of '%s' is built by %s.%s, not a tensor",
          key, printable(value->as.call.callable->as.global.module, module,
                         sizeof module),
          printable(value->as.call.callable->as.global.name, name,
                    sizeof name));
    return SEGC_FAIL(SEGC_ERR_FORMAT, "value of '%s' has type %s, not a tensor",
                     key, segc_pickle_kind_name(value->kind));
  }
  const segc_pickle_value *args = value->as.call.args;
  const size_t argc = args->as.sequence.count;
  if (argc != 6 && argc != 7)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s': _rebuild_tensor_v2 with %zu arguments", key,
                     argc);
  segc_pickle_value *const *a = args->as.sequence.items;
  storage_ref storage = {.entry = NULL};
  SEGC_TRY(decode_storage(r, key, a[0], &storage));
  if (a[1]->kind != SEGC_PICKLE_INT || a[1]->as.integer < 0)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s': storage offset is not a non-negative int",
                     key);
  const int64_t offset = a[1]->as.integer;
  int64_t stride[SEGC_PT_MAX_DIMS];
  int stride_count;
  SEGC_TRY(read_int_tuple(key, "size", a[2], out->shape, &out->ndim));
  SEGC_TRY(read_int_tuple(key, "stride", a[3], stride, &stride_count));
  if (stride_count != out->ndim)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s': %d sizes but %d strides", key, out->ndim,
                     stride_count);
  if (a[4]->kind != SEGC_PICKLE_BOOL)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "tensor '%s': requires_grad has type %s",
                     key, segc_pickle_kind_name(a[4]->kind));
  for (size_t i = 5; i < argc; ++i)  // backward hooks, then metadata
    if (a[i]->kind != SEGC_PICKLE_DICT && a[i]->kind != SEGC_PICKLE_NONE)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "tensor '%s': argument %zu has type %s, expected a dict",
                       key, i + 1, segc_pickle_kind_name(a[i]->kind));
  out->dtype = storage.dtype;

  // Every element the view reaches must lie inside the storage.
  const size_t element = segc_dtype_size(storage.dtype);
  int64_t numel = 1, last = offset;
  bool overflow = false;
  for (int d = 0; d < out->ndim; ++d) {
    overflow |= __builtin_mul_overflow(numel, out->shape[d], &numel);
    int64_t reach = 0;
    if (out->shape[d] > 0)
      overflow |= __builtin_mul_overflow(out->shape[d] - 1, stride[d], &reach);
    overflow |= __builtin_add_overflow(last, reach, &last);
  }
  if (overflow || (numel > 0 && last >= storage.numel))
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s' (offset %" PRId64 ", %d dims) reaches past "
                     "the end of its storage of %" PRId64 " elements", key,
                     offset, out->ndim, storage.numel);
  const uint64_t bytes = (uint64_t)numel * element;
  if (bytes > r->output_limit - r->output_bytes)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "tensor '%s' expands to %" PRIu64 " bytes, far more than "
                     "the file holds", key, bytes);
  r->output_bytes += bytes;
  for (int d = 0; d < out->ndim; ++d)  // a length-1 dim's stride is never used
    if (out->shape[d] == 1) stride[d] = 0;

  const uint8_t *data;
  SEGC_TRY(entry_bytes(r, storage.entry, &data));
  // 64-byte alignment suits the SIMD kernels that read parameters.
  void *copy = NULL;
  if (posix_memalign(&copy, 64, bytes ? (size_t)bytes : 64) != 0)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "tensor '%s': no memory for %" PRIu64
                     " bytes", key, bytes);
  if (numel > 0 && is_contiguous(out->ndim, out->shape, stride))
    memcpy(copy, data + (size_t)offset * element, (size_t)bytes);
  else if (numel > 0)
    gather(data, element, offset, out->ndim, out->shape, stride, numel, copy);
  out->data = copy;
  return SEGC_OK;
}

void segc_pt_free(segc_pt_state_dict *dict) {
  if (!dict) return;
  for (int i = 0; i < dict->count; ++i) {
    free(dict->tensors[i].name);
    free(dict->tensors[i].data);
  }
  free(dict->tensors);
  dict->tensors = NULL;
  dict->count = 0;
}

const segc_pt_tensor *segc_pt_find(const segc_pt_state_dict *dict,
                                   const char *name) {
  for (int i = 0; dict && name && i < dict->count; ++i)
    if (strcmp(dict->tensors[i].name, name) == 0) return &dict->tensors[i];
  return NULL;
}

static int compare_tensor_names(const void *a, const void *b) {
  const segc_pt_tensor *const *x = a, *const *y = b;
  return strcmp((*x)->name, (*y)->name);
}

static segc_status check_unique_names(const segc_pt_state_dict *dict) {
  if (dict->count < 2) return SEGC_OK;
  const segc_pt_tensor **sorted = malloc(sizeof *sorted * (size_t)dict->count);
  if (!sorted) return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory to sort keys");
  for (int i = 0; i < dict->count; ++i) sorted[i] = &dict->tensors[i];
  qsort(sorted, (size_t)dict->count, sizeof *sorted, compare_tensor_names);
  segc_status status = SEGC_OK;
  for (int i = 1; i < dict->count && status == SEGC_OK; ++i)
    if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
      status = SEGC_FAIL(SEGC_ERR_FORMAT, "key '%s' appears twice",
                         sorted[i]->name);
  free(sorted);
  return status;
}

// A bare state dict, or {"model": state_dict, ...} as MONAI's
// CheckpointLoader accepts (the other keys, e.g. "optimizer", are ignored).
static segc_status convert_state_dict(pt_reader *r,
                                      const segc_pickle_value *root,
                                      segc_pt_state_dict *out) {
  if (root->kind != SEGC_PICKLE_DICT)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "checkpoint holds a value of type %s, not a state dict",
                     segc_pickle_kind_name(root->kind));
  const segc_pickle_value *model = segc_pickle_dict_get(root, "model");
  const segc_pickle_value *dict =
      model && model->kind == SEGC_PICKLE_DICT ? model : root;
  const size_t count = dict->as.dict.count;
  if (count > (size_t)INT32_MAX)
    return SEGC_FAIL(SEGC_ERR_FORMAT, "state dict with %zu keys", count);
  out->tensors = calloc(count ? count : 1, sizeof *out->tensors);
  if (!out->tensors)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for %zu tensors", count);
  for (size_t i = 0; i < count; ++i) {
    const segc_pickle_value *key = dict->as.dict.keys[i];
    if (key->kind != SEGC_PICKLE_STRING)
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "state dict key %zu has type %s, not str", i,
                       segc_pickle_kind_name(key->kind));
    const segc_pickle_text text = key->as.string;
    if (memchr(text.bytes, '\0', text.length))
      return SEGC_FAIL(SEGC_ERR_FORMAT,
                       "state dict key %zu contains a NUL byte", i);
    segc_pt_tensor *t = &out->tensors[out->count];
    t->name = strndup(text.bytes, text.length);
    if (!t->name) return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for a key");
    out->count++;  // counted now so that segc_pt_free releases the name
    SEGC_TRY(decode_tensor(r, t->name, dict->as.dict.values[i], t));
  }
  return check_unique_names(out);
}

static segc_status legacy_check(const uint8_t *bytes, size_t size) {
  // torch.save before 1.6 (or with _use_new_zipfile_serialization=False)
  // writes a bare pickle stream; older still, a tar file.
  const bool pickle = size >= 2 && bytes[0] == 0x80 && bytes[1] <= 5;
  const bool tar = size >= 262 && memcmp(bytes + 257, "ustar", 5) == 0;
  if (pickle || tar)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "legacy torch.save format (%s, not a zip archive); load "
                     "it in PyTorch and save it again with torch.save's "
                     "default (zip) format", pickle ? "a bare pickle" : "tar");
  return SEGC_OK;
}

segc_status segc_pt_parse_with(const uint8_t *bytes, size_t size,
                               const segc_pt_parse_options *options,
                               segc_pt_state_dict *out) {
  memset(out, 0, sizeof *out);
  if (!bytes && size > 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "checkpoint buffer is NULL");
  SEGC_TRY(legacy_check(bytes, size));
  pt_reader r = {.options = options};
  r.output_limit = (uint64_t)size * kMaxExpansion + kExpansionSlack;
  SEGC_TRY(segc_zip_open(&r.zip, bytes, size));
  segc_pickle *pickle = NULL;
  const segc_pickle_value *root = NULL;
  segc_status status = SEGC_OK;
  r.crc_checked = calloc(r.zip.count, sizeof *r.crc_checked);
  if (!r.crc_checked)
    status = SEGC_FAIL(SEGC_ERR_NOMEM, "no memory for zip entry flags");
  if (status == SEGC_OK) status = find_prefix(&r);
  if (status == SEGC_OK) status = check_version_records(&r);
  if (status == SEGC_OK) {
    const segc_zip_entry *entry = find_record(&r, "data.pkl", 8);
    const uint8_t *data = NULL;
    status = entry_bytes(&r, entry, &data);
    if (status == SEGC_OK)
      status = segc_pickle_load(data, (size_t)entry->size, &pickle, &root);
    if (status != SEGC_OK)
      segc_fail_context(status, "%sdata.pkl", r.prefix);
  }
  if (status == SEGC_OK) status = convert_state_dict(&r, root, out);
  segc_pickle_free(pickle);
  free(r.crc_checked);
  segc_zip_close(&r.zip);
  if (status != SEGC_OK) segc_pt_free(out);
  return status;
}

segc_status segc_pt_parse(const uint8_t *bytes, size_t size,
                          segc_pt_state_dict *out) {
  const segc_pt_parse_options options = {.verify_crc = true};
  return segc_pt_parse_with(bytes, size, &options, out);
}

segc_status segc_pt_read(const char *path, segc_pt_state_dict *out) {
  memset(out, 0, sizeof *out);
  const int fd = open(path, O_RDONLY);
  if (fd < 0)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot open checkpoint %s: %s", path,
                     strerror(errno));
  struct stat info;
  if (fstat(fd, &info) != 0) {
    const int saved = errno;
    close(fd);
    return SEGC_FAIL(SEGC_ERR_IO, "cannot stat checkpoint %s: %s", path,
                     strerror(saved));
  }
  if (!S_ISREG(info.st_mode) || info.st_size == 0) {
    close(fd);
    return SEGC_FAIL(SEGC_ERR_FORMAT, "checkpoint %s: %s", path,
                     S_ISREG(info.st_mode) ? "empty file" : "not a regular file");
  }
  const size_t size = (size_t)info.st_size;
  void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int saved = errno;
  close(fd);  // the mapping stays valid
  if (map == MAP_FAILED)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot map checkpoint %s: %s", path,
                     strerror(saved));
  segc_status status = segc_pt_parse(map, size, out);
  munmap(map, size);
  if (status != SEGC_OK) return segc_fail_context(status, "checkpoint %s", path);
  return SEGC_OK;
}
