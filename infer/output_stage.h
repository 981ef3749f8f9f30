// All-or-nothing outputs made of several files and folders (a label, its
// sidecar, statistics, one mask per structure): everything is written under
// temporary names beside the final ones (".<name>.segc-tmp.<pid>", same
// folder so that rename is atomic) and renamed into place only when all of it
// is written. On failure the temporary entries are removed, so no partial
// output is left behind.
#ifndef SEGC_INFER_OUTPUT_STAGE_H
#define SEGC_INFER_OUTPUT_STAGE_H

#include <stdbool.h>

#include "core/status.h"

enum { SEGC_STAGE_MAX = 16 };

typedef struct {
  char *final_path[SEGC_STAGE_MAX];
  char *temp_path[SEGC_STAGE_MAX];
  bool is_folder[SEGC_STAGE_MAX];
  int count;
} segc_output_stage;

void segc_output_stage_init(segc_output_stage *stage);

// Reserves a temporary file name for `final_path`. Fails when the folder that
// will hold it does not exist or cannot be written (checked by creating and
// removing the temporary file), so callers learn it before long work.
segc_status segc_output_stage_file(segc_output_stage *stage,
                                   const char *final_path,
                                   const char **temp_path);

// Creates a temporary folder for `final_path` (a folder of outputs). At
// commit the folder is renamed into place when `final_path` does not exist
// or is an empty folder; when it holds files, the new entries are moved into
// it one by one (replacing same-named ones, leaving the others).
segc_status segc_output_stage_folder(segc_output_stage *stage,
                                     const char *final_path,
                                     const char **temp_path);

// Renames every staged entry into place (in the order staged). If a rename
// fails, the entries already renamed are removed again and the rest of the
// temporary entries too; the error names the path.
segc_status segc_output_stage_commit(segc_output_stage *stage);

// Removes every temporary entry (files written into staged folders too).
// Safe after a commit (then it only frees).
void segc_output_stage_abort(segc_output_stage *stage);

#endif
