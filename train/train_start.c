#include "train/train_start.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/train_logs.h"

void segc_train_start_init(segc_train_start *start) {
  segc_folder_lock_init(&start->ckpt_lock);
  segc_folder_lock_init(&start->output_lock);
  start->load_state = false;
}

void segc_train_start_release(segc_train_start *start) {
  segc_folder_lock_release(&start->output_lock);
  segc_folder_lock_release(&start->ckpt_lock);
}

static segc_status remove_stale_temp_files(const segc_config *config,
                                           bool one_folder, FILE *log) {
  segc_stale_temp_report report;
  memset(&report, 0, sizeof report);
  SEGC_TRY(segc_remove_stale_temp_files(config->ckpt_dir, &report));
  if (!one_folder)
    SEGC_TRY(segc_remove_stale_temp_files(config->output_dir, &report));
  if (report.count > 0)
    fprintf(log, "segtrain: removed %d temporary file%s that killed runs left "
            "(%.1f MB): %s%s\n", report.count, report.count == 1 ? "" : "s",
            (double)report.bytes / 1e6, report.names,
            report.count > 3 ? ", ..." : "");
  return SEGC_OK;
}

// Whether the state file exists; a missing folder for it is an error (the
// run could never save its state there).
static segc_status state_exists(const char *path, bool *exists) {
  struct stat st;
  *exists = stat(path, &st) == 0;
  if (*exists) return SEGC_OK;
  if (errno != ENOENT)
    return SEGC_FAIL(SEGC_ERR_IO, "training state %s: %s", path,
                     strerror(errno));
  char folder[SEGC_CONFIG_TEXT_MAX + 64];
  snprintf(folder, sizeof folder, "%s", path);
  char *slash = strrchr(folder, '/');
  if (!slash) return SEGC_OK;
  if (slash == folder) slash[1] = '\0';
  else *slash = '\0';
  if (stat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
    return SEGC_FAIL(SEGC_ERR_IO, "training state %s: its folder %s does not "
                     "exist", path, folder);
  return SEGC_OK;
}

static segc_status start_over(const segc_config *config, const char *state,
                              bool have_state, FILE *log, const char *why) {
  if (have_state && unlink(state) != 0 && errno != ENOENT)
    return SEGC_FAIL(SEGC_ERR_IO, "cannot remove the earlier training state "
                     "%s: %s", state, strerror(errno));
  char removed[1024];
  SEGC_TRY(segc_train_logs_remove(config->output_dir, removed, sizeof removed));
  fprintf(log, "segtrain: %s: starting from scratch%s%s%s%s%s%s%s\n", why,
          removed[0] || have_state ? " (removed " : "",
          removed[0] ? removed : "", removed[0] ? " from " : "",
          removed[0] ? config->output_dir : "",
          removed[0] && have_state ? " and " : "", have_state ? state : "",
          removed[0] || have_state ? ")" : "");
  return SEGC_OK;
}

segc_status segc_train_start_prepare(const segc_config *config,
                                     const segc_train_options *options,
                                     segc_train_start *start) {
  segc_train_start_init(start);
  if (options->resume && options->overwrite)
    return SEGC_FAIL(SEGC_ERR_INVALID, "--resume continues the saved run and "
                     "--overwrite starts a new one in its place: give one of "
                     "them");
  SEGC_TRY(segc_folder_lock_take(config->ckpt_dir, "segtrain", &start->ckpt_lock));
  const bool one_folder = segc_same_folder(config->ckpt_dir, config->output_dir);
  if (!one_folder)
    SEGC_TRY(segc_folder_lock_take(config->output_dir, "segtrain",
                                   &start->output_lock));
  SEGC_TRY(remove_stale_temp_files(config, one_folder, options->log));

  char state[SEGC_CONFIG_TEXT_MAX + 64];
  SEGC_TRY(segc_train_state_path(config, state, sizeof state));
  bool have_state;
  SEGC_TRY(state_exists(state, &have_state));
  if (options->resume) {
    start->load_state = have_state;
    if (have_state) return SEGC_OK;
    char why[SEGC_CONFIG_TEXT_MAX + 128];
    snprintf(why, sizeof why, "--resume: no training state at %s yet", state);
    return start_over(config, state, false, options->log, why);
  }
  if (options->overwrite)
    return start_over(config, state, have_state, options->log, "--overwrite");
  char found[1024];
  SEGC_TRY(segc_train_logs_find(config->output_dir, found, sizeof found));
  if (!found[0] && !have_state) return SEGC_OK;
  return SEGC_FAIL(SEGC_ERR_INVALID,
                   "an earlier run's %s%s%s%s%s%s%s %s here: give --resume to "
                   "continue that run, or --overwrite to start a new one in its "
                   "place (removes them)",
                   found[0] ? "logs (" : "", found, found[0] ? ") in " : "",
                   found[0] ? config->output_dir : "",
                   found[0] && have_state ? " and " : "",
                   have_state ? "training state " : "", have_state ? state : "",
                   found[0] && have_state ? "are" : "is");
}
