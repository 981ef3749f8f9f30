// PyTorch checkpoints (torch.save's zip format) read and written in C.
//
// The container is a zip archive of stored (uncompressed) entries:
// <prefix>/data.pkl (a pickle, protocol 2 by default, 3 to 5 with
// torch.save's pickle_protocol, of an OrderedDict of tensors built by
// torch._utils._rebuild_tensor_v2), <prefix>/data/<key> (raw little-endian
// storages) and <prefix>/version. A state dict may also be wrapped as
// {"model": state_dict}, as MONAI's CheckpointLoader accepts.
#ifndef SEGC_IO_CHECKPOINT_PT_H
#define SEGC_IO_CHECKPOINT_PT_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"

enum { SEGC_PT_MAX_DIMS = 8 };

typedef struct {
  char *name;                       // state-dict key
  segc_dtype dtype;                 // f32, f16 or bf16 (others are refused)
  int ndim;
  int64_t shape[SEGC_PT_MAX_DIMS];
  void *data;                       // contiguous, row-major, host memory
} segc_pt_tensor;

typedef struct {
  segc_pt_tensor *tensors;
  int count;
} segc_pt_state_dict;

// Reads a checkpoint file. Tensors are returned contiguous (strided views
// are gathered). Any malformed input is an error naming the file and what
// was wrong; nothing is read past the buffer.
segc_status segc_pt_read(const char *path, segc_pt_state_dict *out);
// The same from memory (used by the fuzzer).
segc_status segc_pt_parse(const uint8_t *bytes, size_t size,
                          segc_pt_state_dict *out);
// Writes a loadable checkpoint (torch.load, then load_state_dict(strict)).
// Written to a temporary file in the same folder and renamed, so a crash
// never leaves a partial file.
segc_status segc_pt_write(const char *path, const segc_pt_state_dict *dict);
void segc_pt_free(segc_pt_state_dict *dict);
// Finds a tensor by key, NULL if absent.
const segc_pt_tensor *segc_pt_find(const segc_pt_state_dict *dict,
                                   const char *name);

#endif
