// The one way segc replaces a file: write it under a temporary name beside
// it, fsync it, rename it into place, fsync the folder; so a crash or an
// error never leaves a partial file at <path>, and a written file survives a
// power loss. Every writer of a single output uses it (JSON, PNG, NIfTI,
// .pt checkpoints, state files, tables, the resolved config, file copies).
//
// Temporary names are "<path>.tmp.<pid>", or "<path>.<n>.tmp.<pid>" when
// another writer of this process holds that one: the run folders' clean-up
// (io/run_folder.h, segc_temp_file_pid) removes those of dead processes.
// Files are created with mode 0666 less the umask, as fopen does.
#ifndef SEGC_IO_ATOMIC_FILE_H
#define SEGC_IO_ATOMIC_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef struct {
  FILE *file;           // the stream (NULL when opened for a descriptor)
  int fd;               // the temporary's descriptor; -1 when closed
  char *path;           // the final name
  char *temp_path;      // the temporary name
  uint64_t offset;      // bytes written through segc_atomic_file_write
} segc_atomic_file;

// Creates the temporary file and a stream on it (file->file, which callers
// may also hand to a library that writes to a FILE *).
segc_status segc_atomic_file_open(segc_atomic_file *file, const char *path);
// The same without a stream: callers write through file->fd (or a dup of it
// that they close themselves) and never close file->fd.
segc_status segc_atomic_file_open_fd(segc_atomic_file *file, const char *path);
// A failed write removes the temporary file; later calls then fail too.
segc_status segc_atomic_file_write(segc_atomic_file *file, const void *bytes,
                                   size_t count);
// Flushes, fsyncs, closes and renames (then fsyncs the folder). Any failure
// removes the temporary file; messages name <path> and the call that failed.
segc_status segc_atomic_file_commit(segc_atomic_file *file);
// Closes and removes the temporary file; safe to call more than once and
// after a commit (then it only frees).
void segc_atomic_file_abort(segc_atomic_file *file);

// fsync of the folder that holds `path` (after a rename into it), and of a
// folder itself (after renames into it), for writers that rename several
// entries at once (infer/output_stage.c). A folder that cannot be opened is
// not an error: what was renamed is already synced.
segc_status segc_sync_parent_folder(const char *path);
segc_status segc_sync_folder(const char *folder);

#endif
