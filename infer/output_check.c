#include "infer/output_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { kPathMax = 4096 };

typedef struct {
  bool exists;
  dev_t device;
  ino_t inode;
} file_identity;

// An output file of this run, by its folder's real path and its name, so
// that two spellings of one place compare equal.
typedef struct {
  char *where;
  const char *option;
} planned_file;

typedef struct {
  const segc_output_check *check;
  file_identity *inputs;       // one per input
  const char *planned[3];      // folders the run creates
  int planned_count;
  planned_file *files;         // every output file checked so far
  int file_count, file_capacity;
} checker;

// Refuses `path` when it names an existing file that is one of the inputs.
// Files are compared by device and inode, which covers every spelling of a
// path, symlinks and hard links alike.
static segc_status check_not_input(const checker *c, const char *option,
                                   const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return SEGC_OK;  // nothing there to replace
  for (int i = 0; i < c->check->input_count; ++i) {
    const file_identity *in = &c->inputs[i];
    if (in->exists && in->device == st.st_dev && in->inode == st.st_ino)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s would write %s, which is the input %s; refusing to "
                       "overwrite an input (choose another output path)",
                       option, path, c->check->inputs[i]);
  }
  return SEGC_OK;
}

// The folder part of `path` ("." when it has none, "/" for the root).
static segc_status folder_of(const char *path, char *folder) {
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(folder, kPathMax, ".");
    return SEGC_OK;
  }
  const size_t n = slash == path ? 1 : (size_t)(slash - path);
  if (n >= kPathMax)
    return SEGC_FAIL(SEGC_ERR_INVALID, "output path too long: %.80s...", path);
  memcpy(folder, path, n);
  folder[n] = '\0';
  return SEGC_OK;
}

// Equal paths up to trailing slashes.
static bool same_path(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  while (na > 1 && a[na - 1] == '/') --na;
  while (nb > 1 && b[nb - 1] == '/') --nb;
  return na == nb && !strncmp(a, b, na);
}

static segc_status check_writable_folder(const char *option, const char *path,
                                         const char *folder) {
  struct stat st;
  if (stat(folder, &st) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "%s %s: cannot write into %s: %s", option,
                     path, folder, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s %s: cannot write into %s: not a "
                     "folder", option, path, folder);
  if (access(folder, W_OK | X_OK) != 0)
    return SEGC_FAIL(SEGC_ERR_IO, "%s %s: cannot write into %s: %s", option,
                     path, folder, strerror(errno));
  return SEGC_OK;
}

// A folder the run creates when missing: it is a writable folder already,
// or its nearest existing ancestor is.
static segc_status check_creatable(const char *option, const char *folder) {
  char existing[kPathMax];
  if (snprintf(existing, sizeof existing, "%s", folder) >= (int)sizeof existing)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: path too long: %.80s...", option,
                     folder);
  struct stat st;
  while (stat(existing, &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR)  // ENOTDIR: a file on the way
      return SEGC_FAIL(SEGC_ERR_IO, "%s %s: cannot reach %s: %s", option,
                       folder, existing, strerror(errno));
    char parent[kPathMax];
    SEGC_TRY(folder_of(existing, parent));
    if (same_path(parent, existing)) break;  // "." or "/" missing: stat says why
    snprintf(existing, sizeof existing, "%s", parent);
  }
  return check_writable_folder(option, folder, existing);
}

// Refuses a second output of this run at the place of an earlier one (say
// --report naming the label file): the later write would replace the first.
static segc_status check_not_planned(checker *c, const char *option,
                                     const char *path) {
  char folder[kPathMax], real[kPathMax];
  SEGC_TRY(folder_of(path, folder));
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  // A folder the run has yet to make has no real path: its spelling serves.
  const char *base = realpath(folder, real) ? real : folder;
  const size_t n = strlen(base) + strlen(name) + 2;
  char *where = malloc(n);
  if (!where) return SEGC_FAIL(SEGC_ERR_NOMEM, "output check: out of memory");
  snprintf(where, n, "%s/%s", base, name);
  for (int i = 0; i < c->file_count; ++i) {
    if (strcmp(c->files[i].where, where) != 0) continue;
    free(where);
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s %s is also where %s writes in this run; give each "
                     "output its own path", option, path, c->files[i].option);
  }
  if (c->file_count == c->file_capacity) {
    const int capacity = c->file_capacity ? 2 * c->file_capacity : 16;
    planned_file *grown = realloc(c->files, sizeof *grown * (size_t)capacity);
    if (!grown) {
      free(where);
      return SEGC_FAIL(SEGC_ERR_NOMEM, "output check: out of memory");
    }
    c->files = grown;
    c->file_capacity = capacity;
  }
  c->files[c->file_count++] = (planned_file){where, option};
  return SEGC_OK;
}

// A file the run writes (a label, sidecar, statistics, preview, report...).
static segc_status check_file(checker *c, const char *option,
                              const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s %s is a folder; a file is expected",
                     option, path);
  SEGC_TRY(check_not_input(c, option, path));
  SEGC_TRY(check_not_planned(c, option, path));
  char folder[kPathMax];
  SEGC_TRY(folder_of(path, folder));
  for (int p = 0; p < c->planned_count; ++p)
    if (same_path(folder, c->planned[p])) return SEGC_OK;
  return check_writable_folder(option, path, folder);
}

static segc_status check_in_folder(checker *c, const char *folder,
                                   const char *name) {
  if (!name) return SEGC_OK;
  char path[2 * kPathMax];
  snprintf(path, sizeof path, "%s/%s", folder, name);
  SEGC_TRY(check_not_input(c, "-o", path));
  return check_not_planned(c, "-o", path);
}

// The files of one case written into its output folder (staged as a whole
// beside it, then renamed or merged into place).
static segc_status check_case_folder(checker *c, const segc_case_paths *p) {
  struct stat st;
  if (stat(p->folder, &st) == 0 && !S_ISDIR(st.st_mode))
    return SEGC_FAIL(SEGC_ERR_INVALID, "-o %s exists and is not a folder",
                     p->folder);
  char parent[kPathMax];
  SEGC_TRY(folder_of(p->folder, parent));
  bool planned = false;
  for (int f = 0; f < c->planned_count; ++f)
    planned = planned || same_path(parent, c->planned[f]);
  if (!planned) SEGC_TRY(check_writable_folder("-o", p->folder, parent));
  SEGC_TRY(check_in_folder(c, p->folder, p->label));
  SEGC_TRY(check_in_folder(c, p->folder, p->sidecar));
  SEGC_TRY(check_in_folder(c, p->folder, p->stats_json));
  SEGC_TRY(check_in_folder(c, p->folder, p->stats_csv));
  SEGC_TRY(check_in_folder(c, p->folder, p->dicom_seg));
  if (!c->check->layout->split) return SEGC_OK;
  const segc_label_table *names = c->check->names;
  for (int k = 1; k < names->count; ++k) {
    if (c->check->selected && !c->check->selected[k]) continue;
    char mask[kPathMax];
    snprintf(mask, sizeof mask, "%s.nii.gz", names->names[k]);
    SEGC_TRY(check_in_folder(c, p->folder, mask));
  }
  return SEGC_OK;
}

static segc_status check_case(checker *c, const char *input) {
  segc_case_plan plan;
  SEGC_TRY(segc_plan_case(c->check->layout, input, &plan));
  const segc_case_paths *p = &plan.paths;
  if (p->folder) {
    SEGC_TRY(check_case_folder(c, p));
  } else {
    const char *files[5] = {p->label, p->sidecar, p->stats_json, p->stats_csv,
                            p->dicom_seg};
    for (int f = 0; f < 5; ++f)
      if (files[f]) SEGC_TRY(check_file(c, "-o", files[f]));
  }
  if (p->preview) SEGC_TRY(check_file(c, "--preview", p->preview));
  if (p->preprocessed)
    SEGC_TRY(check_file(c, "--save-preprocessed", p->preprocessed));
  return SEGC_OK;
}

static segc_status check_all(checker *c) {
  const segc_output_check *check = c->check;
  const segc_output_layout *layout = check->layout;
  if (layout->several) {
    const char *options[3] = {"-o", "--preview", "--save-preprocessed"};
    const char *folders[3] = {layout->output, layout->preview,
                              layout->preprocessed};
    for (int f = 0; f < 3; ++f) {
      if (!folders[f]) continue;
      SEGC_TRY(check_creatable(options[f], folders[f]));
      c->planned[c->planned_count++] = folders[f];
    }
  }
  for (int i = 0; i < check->input_count; ++i)
    SEGC_TRY(check_case(c, check->inputs[i]));
  if (check->report) SEGC_TRY(check_file(c, "--report", check->report));
  return SEGC_OK;
}

segc_status segc_check_outputs(const segc_output_check *check) {
  checker c = {.check = check};
  c.inputs = calloc((size_t)check->input_count + 1, sizeof *c.inputs);
  if (!c.inputs) return SEGC_FAIL(SEGC_ERR_NOMEM, "output check: out of memory");
  for (int i = 0; i < check->input_count; ++i) {
    struct stat st;
    // A missing input is reported when it is read; here it can be no output.
    if (stat(check->inputs[i], &st) != 0) continue;
    c.inputs[i] = (file_identity){true, st.st_dev, st.st_ino};
  }
  const segc_status status = check_all(&c);
  for (int i = 0; i < c.file_count; ++i) free(c.files[i].where);
  free(c.files);
  free(c.inputs);
  return status;
}
