// Variants of the checkpoint_pt.h calls with knobs that only tests and the
// fuzzer use.
#ifndef SEGC_IO_CHECKPOINT_PT_INTERNAL_H
#define SEGC_IO_CHECKPOINT_PT_INTERNAL_H

#include <stdbool.h>

#include "io/checkpoint_pt.h"

typedef struct {
  // Checking CRC-32s is what segc_pt_parse does; the fuzzer turns it off so
  // its mutations reach the pickle and tensor code instead of stopping at
  // the checksum.
  bool verify_crc;
} segc_pt_parse_options;

segc_status segc_pt_parse_with(const uint8_t *bytes, size_t size,
                               const segc_pt_parse_options *options,
                               segc_pt_state_dict *out);

typedef struct {
  bool force_zip64;  // zip64 records for every entry, to test that path
} segc_pt_write_options;

segc_status segc_pt_write_with(const char *path, const segc_pt_state_dict *dict,
                               const segc_pt_write_options *options);

// The bytes a tensor's data occupies (numel * element size); -1 when the
// shape is invalid or the size overflows.
int64_t segc_pt_tensor_bytes(const segc_pt_tensor *tensor);

#endif
