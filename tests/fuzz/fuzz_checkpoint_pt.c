// libFuzzer entry point for the checkpoint reader (built by scripts/fuzz.sh,
// not by CMake). Each input goes through segc_pt_parse as a user's file
// would, then again without CRC checks so that mutated bytes reach the
// unpickler and the tensor code instead of stopping at the checksum. A
// successful parse must hand back a consistent dict: every byte of every
// tensor is read, so a wrong size shows up under AddressSanitizer.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint_pt.h"
#include "io/checkpoint_pt_internal.h"

static void check_dict(const segc_pt_state_dict *dict) {
  volatile uint8_t sink = 0;
  for (int i = 0; i < dict->count; ++i) {
    const segc_pt_tensor *t = &dict->tensors[i];
    if (!t->name || !t->data || t->ndim < 0 || t->ndim > SEGC_PT_MAX_DIMS)
      abort();
    if (t->dtype != SEGC_F32 && t->dtype != SEGC_F16 && t->dtype != SEGC_BF16)
      abort();
    size_t bytes = segc_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; ++d) {
      if (t->shape[d] < 0) abort();
      bytes *= (size_t)t->shape[d];
    }
    const uint8_t *data = t->data;
    for (size_t k = 0; k < bytes; ++k) sink ^= data[k];
    if (segc_pt_find(dict, t->name) == NULL) abort();
  }
  (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  segc_pt_state_dict dict;
  if (segc_pt_parse(data, size, &dict) == SEGC_OK) check_dict(&dict);
  segc_pt_free(&dict);
  const segc_pt_parse_options no_crc = {.verify_crc = false};
  if (segc_pt_parse_with(data, size, &no_crc, &dict) == SEGC_OK)
    check_dict(&dict);
  segc_pt_free(&dict);
  return 0;
}
