// The folders a run writes into: one live run per folder, and the clean-up of
// what killed writers left behind.
//
// Lock: "<dir>/.segc-lock", held with flock(2) for the life of the run and
// holding the holder's pid (for the message a second run gets). The kernel
// drops the lock when its process ends however it ends (kill -9 included),
// so a lock file left by a dead run is simply taken over; where the file
// system has no flock, the recorded pid is checked instead.
//
// Temporary files: segc's writers write "<name>.tmp.<pid>" or
// "<name>.<n>.tmp.<pid>" (io/atomic_file, which every single-file writer
// uses) or ".segc-tmp.<pid>.<name>" (seginfer's output stage) and rename
// them into place; a writer that is killed leaves
// its temporary file behind (the size of a training state: hundreds of MB).
// Those whose pid is no longer a process are removed; a live process's are
// never touched.
#ifndef SEGC_IO_RUN_FOLDER_H
#define SEGC_IO_RUN_FOLDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define SEGC_FOLDER_LOCK_NAME ".segc-lock"

typedef struct {
  int fd;  // -1 when not held
  char path[4200];
} segc_folder_lock;

// Takes dir's lock, or fails naming the pid of the run that holds it.
// `what` says who holds it in messages (e.g. "segtrain").
segc_status segc_folder_lock_take(const char *dir, const char *what,
                                  segc_folder_lock *lock);
// Removes the lock file and releases the lock; fine on a lock not held.
void segc_folder_lock_release(segc_folder_lock *lock);
void segc_folder_lock_init(segc_folder_lock *lock);

// True when both name the same existing folder.
bool segc_same_folder(const char *a, const char *b);

typedef struct {
  int count;         // temporary files removed
  uint64_t bytes;    // their size together
  char names[1024];  // the first few, ", "-separated (paths)
} segc_stale_temp_report;

// Removes the temporary files (and flat temporary folders) of dead
// processes in dir (not below it); adds what it removed to *report.
segc_status segc_remove_stale_temp_files(const char *dir,
                                         segc_stale_temp_report *report);

// The pid in a temporary file's name, or 0 when the name is not one of the
// two forms above.
long segc_temp_file_pid(const char *name);

#endif
