// Writing side of checkpoint_pt.h: the same pickle opcodes torch.save emits
// for an OrderedDict of tensors, one storage record per tensor.
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/byte_buffer.h"
#include "io/checkpoint_pt.h"
#include "io/checkpoint_pt_internal.h"
#include "io/zip_archive.h"

// Pickle opcodes (Python's pickletools names them).
enum {
  kProto = 0x80, kGlobal = 'c', kBinPut = 'q', kLongBinPut = 'r',
  kBinGet = 'h', kLongBinGet = 'j', kEmptyTuple = ')', kTuple = 't',
  kTuple1 = 0x85, kMark = '(', kReduce = 'R', kSetItem = 's',
  kSetItems = 'u', kBinUnicode = 'X', kBinInt = 'J', kBinInt1 = 'K',
  kBinInt2 = 'M', kLong1 = 0x8a, kNewFalse = 0x89, kBinPersId = 'Q',
  kStop = '.',
};
enum { kBatchSize = 1000 };  // Python's pickler closes SETITEMS every 1000 pairs
static const char kArchive[] = "archive";

typedef struct {
  segc_byte_buffer out;
  uint32_t next_memo;
  // Memo slots of values written once and then fetched (UINT32_MAX = unset).
  uint32_t ordered_dict, rebuild, storage_word, cpu, storage_type[3];
} pickle_writer;

static void op(pickle_writer *w, uint8_t code) { segc_byte_buffer_u8(&w->out, code); }

static uint32_t memo_put(pickle_writer *w) {
  const uint32_t id = w->next_memo++;
  if (id < 256) {
    op(w, kBinPut);
    op(w, (uint8_t)id);
  } else {
    op(w, kLongBinPut);
    segc_byte_buffer_le32(&w->out, id);
  }
  return id;
}

static void memo_get(pickle_writer *w, uint32_t id) {
  if (id < 256) {
    op(w, kBinGet);
    op(w, (uint8_t)id);
  } else {
    op(w, kLongBinGet);
    segc_byte_buffer_le32(&w->out, id);
  }
}

static void put_string(pickle_writer *w, const char *text) {
  const size_t length = strlen(text);
  op(w, kBinUnicode);
  segc_byte_buffer_le32(&w->out, (uint32_t)length);
  segc_byte_buffer_append(&w->out, text, length);
  memo_put(w);
}

// A string or global written once and fetched from the memo afterwards.
static void put_string_once(pickle_writer *w, uint32_t *slot, const char *text) {
  if (*slot != UINT32_MAX) return memo_get(w, *slot);
  const uint32_t id = w->next_memo;
  put_string(w, text);
  *slot = id;
}

static void put_global_once(pickle_writer *w, uint32_t *slot,
                            const char *module, const char *name) {
  if (*slot != UINT32_MAX) return memo_get(w, *slot);
  op(w, kGlobal);
  segc_byte_buffer_append(&w->out, module, strlen(module));
  op(w, '\n');
  segc_byte_buffer_append(&w->out, name, strlen(name));
  op(w, '\n');
  *slot = memo_put(w);
}

// The shortest of Python's binary int encodings that holds the value.
static void put_int(pickle_writer *w, int64_t value) {
  if (value >= 0 && value < 256) {
    op(w, kBinInt1);
    op(w, (uint8_t)value);
  } else if (value >= 0 && value < 65536) {
    op(w, kBinInt2);
    segc_byte_buffer_le16(&w->out, (uint16_t)value);
  } else if (value >= INT32_MIN && value <= INT32_MAX) {
    op(w, kBinInt);
    segc_byte_buffer_le32(&w->out, (uint32_t)(int32_t)value);
  } else {  // two's complement, as few bytes as keep the sign
    uint8_t bytes = 8;
    while (bytes > 1) {
      const int64_t limit = (int64_t)1 << (8 * (bytes - 1) - 1);
      if (value >= -limit && value < limit) --bytes;
      else break;
    }
    op(w, kLong1);
    op(w, bytes);
    for (uint8_t i = 0; i < bytes; ++i) op(w, (uint8_t)((uint64_t)value >> (8 * i)));
  }
}

static void put_int_tuple(pickle_writer *w, const int64_t *values, int count) {
  if (count == 0) {
    op(w, kEmptyTuple);
    return;
  }
  if (count > 3) op(w, kMark);
  for (int i = 0; i < count; ++i) put_int(w, values[i]);
  op(w, count > 3 ? (uint8_t)kTuple : (uint8_t)(kTuple1 + count - 1));
  memo_put(w);
}

static int storage_slot(segc_dtype dtype) {
  return dtype == SEGC_F32 ? 0 : (dtype == SEGC_F16 ? 1 : 2);
}

static const char *storage_class(segc_dtype dtype) {
  static const char *const names[3] = {"FloatStorage", "HalfStorage",
                                       "BFloat16Storage"};
  return names[storage_slot(dtype)];
}

// One state-dict item: key, then
// _rebuild_tensor_v2(persid(('storage', torch.<T>Storage, '<i>', 'cpu', numel)),
//                    0, size, contiguous stride, False, OrderedDict()).
static void put_item(pickle_writer *w, const segc_pt_tensor *t, int index) {
  put_string(w, t->name);
  put_global_once(w, &w->rebuild, "torch._utils", "_rebuild_tensor_v2");
  op(w, kMark);
  op(w, kMark);
  put_string_once(w, &w->storage_word, "storage");
  put_global_once(w, &w->storage_type[storage_slot(t->dtype)], "torch",
                  storage_class(t->dtype));
  char key[24];
  snprintf(key, sizeof key, "%d", index);
  put_string(w, key);
  put_string_once(w, &w->cpu, "cpu");
  int64_t numel = 1, stride[SEGC_PT_MAX_DIMS];
  for (int d = t->ndim - 1; d >= 0; --d) {  // torch's contiguous strides
    stride[d] = numel;
    numel *= t->shape[d] > 1 ? t->shape[d] : 1;
  }
  numel = 1;
  for (int d = 0; d < t->ndim; ++d) numel *= t->shape[d];
  put_int(w, numel);
  op(w, kTuple);
  memo_put(w);
  op(w, kBinPersId);
  put_int(w, 0);  // storage offset
  put_int_tuple(w, t->shape, t->ndim);
  put_int_tuple(w, stride, t->ndim);
  op(w, kNewFalse);  // requires_grad
  memo_get(w, w->ordered_dict);  // backward hooks: OrderedDict()
  op(w, kEmptyTuple);
  op(w, kReduce);
  memo_put(w);
  op(w, kTuple);
  memo_put(w);
  op(w, kReduce);
  memo_put(w);
}

static segc_status build_pickle(const segc_pt_state_dict *dict,
                                segc_byte_buffer *out) {
  pickle_writer w = {.ordered_dict = UINT32_MAX, .rebuild = UINT32_MAX,
                     .storage_word = UINT32_MAX, .cpu = UINT32_MAX,
                     .storage_type = {UINT32_MAX, UINT32_MAX, UINT32_MAX}};
  op(&w, kProto);
  op(&w, 2);
  put_global_once(&w, &w.ordered_dict, "collections", "OrderedDict");
  op(&w, kEmptyTuple);
  op(&w, kReduce);
  memo_put(&w);
  for (int start = 0; start < dict->count; start += kBatchSize) {
    const int end = start + kBatchSize < dict->count ? start + kBatchSize
                                                     : dict->count;
    if (end - start > 1) op(&w, kMark);
    for (int i = start; i < end; ++i) put_item(&w, &dict->tensors[i], i);
    op(&w, end - start > 1 ? (uint8_t)kSetItems : (uint8_t)kSetItem);
  }
  op(&w, kStop);
  *out = w.out;
  return segc_byte_buffer_status(out, "checkpoint pickle");
}

int64_t segc_pt_tensor_bytes(const segc_pt_tensor *t) {
  if (t->dtype != SEGC_F32 && t->dtype != SEGC_F16 && t->dtype != SEGC_BF16)
    return -1;
  if (t->ndim < 0 || t->ndim > SEGC_PT_MAX_DIMS) return -1;
  int64_t bytes = (int64_t)segc_dtype_size(t->dtype);
  for (int d = 0; d < t->ndim; ++d)
    if (t->shape[d] < 0 || __builtin_mul_overflow(bytes, t->shape[d], &bytes))
      return -1;
  return bytes;
}

static segc_status validate(const segc_pt_state_dict *dict) {
  if (!dict || dict->count < 0 || (dict->count > 0 && !dict->tensors))
    return SEGC_FAIL(SEGC_ERR_INVALID, "state dict is empty or malformed");
  for (int i = 0; i < dict->count; ++i) {
    const segc_pt_tensor *t = &dict->tensors[i];
    if (!t->name || !*t->name ||
        !segc_utf8_valid((const uint8_t *)t->name, strlen(t->name)))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "tensor %d: its name is missing or not UTF-8", i);
    if (t->dtype != SEGC_F32 && t->dtype != SEGC_F16 && t->dtype != SEGC_BF16)
      return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                       "tensor '%s': dtype %s cannot be saved (f32, f16, bf16)",
                       t->name, segc_dtype_name(t->dtype));
    if (t->ndim < 0 || t->ndim > SEGC_PT_MAX_DIMS)
      return SEGC_FAIL(SEGC_ERR_INVALID, "tensor '%s': %d dimensions", t->name,
                       t->ndim);
    const int64_t bytes = segc_pt_tensor_bytes(t);
    if (bytes < 0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "tensor '%s': negative or overflowing shape", t->name);
    if (bytes > 0 && !t->data)
      return SEGC_FAIL(SEGC_ERR_INVALID, "tensor '%s' has no data", t->name);
    for (int j = 0; j < i; ++j)
      if (strcmp(dict->tensors[j].name, t->name) == 0)
        return SEGC_FAIL(SEGC_ERR_INVALID, "key '%s' appears twice", t->name);
  }
  return SEGC_OK;
}

segc_status segc_pt_write_with(const char *path, const segc_pt_state_dict *dict,
                               const segc_pt_write_options *options) {
  segc_status status = validate(dict);
  if (status != SEGC_OK) return segc_fail_context(status, "checkpoint %s", path);
  segc_byte_buffer pickle = {0};
  status = build_pickle(dict, &pickle);
  segc_zip_writer zip;
  if (status == SEGC_OK)
    status = segc_zip_writer_open(&zip, path, options->force_zip64);
  if (status != SEGC_OK) {
    segc_byte_buffer_free(&pickle);
    return segc_fail_context(status, "checkpoint %s", path);
  }
  // Entry order as torch 2.x writes it; torch 1.13 ignores `byteorder`.
  char name[64];
  snprintf(name, sizeof name, "%s/data.pkl", kArchive);
  status = segc_zip_writer_add(&zip, name, pickle.data, pickle.size);
  segc_byte_buffer_free(&pickle);
  snprintf(name, sizeof name, "%s/byteorder", kArchive);
  if (status == SEGC_OK) status = segc_zip_writer_add(&zip, name, "little", 6);
  for (int i = 0; i < dict->count && status == SEGC_OK; ++i) {
    snprintf(name, sizeof name, "%s/data/%d", kArchive, i);
    const segc_pt_tensor *t = &dict->tensors[i];
    status = segc_zip_writer_add(&zip, name, t->data,
                                 (uint64_t)segc_pt_tensor_bytes(t));
  }
  snprintf(name, sizeof name, "%s/version", kArchive);
  if (status == SEGC_OK) status = segc_zip_writer_add(&zip, name, "3\n", 2);
  if (status == SEGC_OK) status = segc_zip_writer_finish(&zip);
  // A failed add or finish has already aborted the writer (no file left).
  if (status != SEGC_OK) return segc_fail_context(status, "checkpoint %s", path);
  return SEGC_OK;
}

segc_status segc_pt_write(const char *path, const segc_pt_state_dict *dict) {
  const segc_pt_write_options options = {.force_zip64 = false};
  return segc_pt_write_with(path, dict, &options);
}
