// Writes a file under a temporary name (<path>.tmp.<pid>) and renames it into
// place only when every byte is written and synced, so a crash or an error
// never leaves a partial file at <path>.
#ifndef SEGC_IO_ATOMIC_FILE_H
#define SEGC_IO_ATOMIC_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef struct {
  FILE *file;           // NULL once committed or aborted
  char *path;           // the final name
  char *temp_path;      // <path>.tmp.<pid>
  uint64_t offset;      // bytes written so far
} segc_atomic_file;

segc_status segc_atomic_file_open(segc_atomic_file *file, const char *path);
// A failed write removes the temporary file; later calls then fail too.
segc_status segc_atomic_file_write(segc_atomic_file *file, const void *bytes,
                                   size_t count);
// Flushes, fsyncs, closes and renames (then fsyncs the folder). Any failure
// removes the temporary file and names the call that failed.
segc_status segc_atomic_file_commit(segc_atomic_file *file);
// Closes and removes the temporary file; safe to call more than once and
// after a commit (then it only frees).
void segc_atomic_file_abort(segc_atomic_file *file);

#endif
