// TensorBoard event files written directly: no TensorFlow, no protobuf
// library. A file is a sequence of TFRecords
//   uint64 length | uint32 masked CRC-32C of the 8 length bytes |
//   data (length bytes) | uint32 masked CRC-32C of the data
// (little-endian; masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8), each
// holding one tensorflow.Event protobuf, encoded by hand:
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
//             Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
// The first record carries wall_time and file_version "brain.Event:2"; each
// scalar is one Event with wall_time, step and a Summary of one Value.
// Every record is flushed to the file before the call returns, so a crash
// loses at most the record being written, and TensorBoard shows the run live.
//
// Resuming: segtrain reopens the file of the run it continues (cut back to
// the size it had at the saved state) so a resumed run has the one file an
// uninterrupted run has; a new open starts a new file.
#ifndef SEGC_TRAIN_TENSORBOARD_H
#define SEGC_TRAIN_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

// Tags as the MONAI bundle writes them.
#define SEGC_TB_TRAIN_LOSS "train_loss"
#define SEGC_TB_VAL_MEAN_DICE "val_mean_dice"

enum { SEGC_TB_MAX_TAG = 256 };  // bytes

typedef struct segc_tensorboard segc_tensorboard;

// Creates "<log_dir>/events.out.tfevents.<unix seconds>.<host name>" (a
// ".<pid>.<n>" suffix is added if that name is taken) and writes the
// file_version record. The folder must exist.
segc_status segc_tensorboard_open(const char *log_dir, segc_tensorboard **out);
// Opens an existing event file to add records at its end (an empty one
// gets the file_version record first).
segc_status segc_tensorboard_reopen(const char *path, segc_tensorboard **out);
// One scalar at `step`, stamped with the current time.
segc_status segc_tensorboard_scalar(segc_tensorboard *tb, const char *tag,
                                    int64_t step, double value);
// The same with an explicit wall time (seconds since 1970), for tests and
// replays.
segc_status segc_tensorboard_scalar_at(segc_tensorboard *tb, const char *tag,
                                       int64_t step, double value,
                                       double wall_time);
const char *segc_tensorboard_path(const segc_tensorboard *tb);
// Closes the file (checked) and frees tb; NULL is fine.
segc_status segc_tensorboard_close(segc_tensorboard *tb);

// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), table-driven;
// segc_crc32c("123456789", 9) == 0xe3069283.
uint32_t segc_crc32c(const void *data, size_t size);
uint32_t segc_crc32c_masked(const void *data, size_t size);

#endif
