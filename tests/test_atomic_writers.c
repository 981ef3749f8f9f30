// io/atomic_file and every writer built on it (JSON, file copies, PNG, the
// resolved config, NIfTI): each output is synced, then renamed into place,
// then its folder is synced (counted through the linker: this test's link
// wraps fsync, see tests/CMakeLists.txt); temporary names are
// "<name>.tmp.<pid>" or "<name>.<n>.tmp.<pid>", so the run folders' clean-up
// recognises them, and two writers of one path never share a temporary.
// seginfer's output stage syncs the folders it renames into.
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "data/file_list.h"
#include "data/json_file.h"
#include "data/nifti_io.h"
#include "image2d/image2d.h"
#include "infer/output_stage.h"
#include "io/atomic_file.h"
#include "io/run_folder.h"
#include "util/test_util.h"

static int synced_files, synced_folders;

int __real_fsync(int fd);
int __wrap_fsync(int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) ++synced_folders;
    else if (S_ISREG(st.st_mode)) ++synced_files;
  }
  return __real_fsync(fd);
}

static void reset_counts(void) { synced_files = synced_folders = 0; }

static void check_synced(const char *writer) {
  CHECK(synced_files >= 1, "%s: the file was not fsynced", writer);
  CHECK(synced_folders >= 1, "%s: the folder was not fsynced after rename",
        writer);
}

// No entry of `dir` is a temporary file.
static bool no_temporaries(const char *dir) {
  segc_name_list names;
  if (segc_data_list_dir(dir, SEGC_LIST_FILES, "", &names) != SEGC_OK) return false;
  bool none = true;
  for (int64_t i = 0; i < names.count; ++i)
    if (strstr(names.names[i], ".tmp")) none = false;
  segc_name_list_free(&names);
  return none;
}

static int test_atomic_file(const char *dir) {
  const char *path = test_path(dir, "a.bin");
  segc_atomic_file first, second;
  CHECK_OK(segc_atomic_file_open(&first, path));
  CHECK_OK(segc_atomic_file_open(&second, path));
  const char *slash = strrchr(first.temp_path, '/');
  CHECK(segc_temp_file_pid(slash + 1) == (long)getpid(),
        "temporary name '%s' is not recognised as this process's", slash + 1);
  slash = strrchr(second.temp_path, '/');
  CHECK(segc_temp_file_pid(slash + 1) == (long)getpid(),
        "second temporary name '%s' is not recognised", slash + 1);
  CHECK(strcmp(first.temp_path, second.temp_path) != 0,
        "two writers of one path share the temporary %s", first.temp_path);
  CHECK_OK(segc_atomic_file_write(&second, "second", 6));
  CHECK_OK(segc_atomic_file_write(&first, "first", 5));
  reset_counts();
  CHECK_OK(segc_atomic_file_commit(&first));
  check_synced("atomic_file");
  segc_atomic_file_abort(&second);
  struct stat st;
  CHECK(stat(path, &st) == 0 && st.st_size == 5, "the committed file is kept");
  CHECK(no_temporaries(dir), "temporary files left in %s", dir);

  // A missing folder: the message names the path asked for, no temporary.
  const char *missing = test_path(dir, "missing/b.bin");
  CHECK_FAILS(segc_atomic_file_open(&first, missing), SEGC_ERR_IO, missing);
  CHECK(!strstr(segc_error_message(), ".tmp"), "message names a temporary: %s",
        segc_error_message());
  return 0;
}

static int test_writers(const char *dir) {
  reset_counts();
  cJSON *root = cJSON_CreateObject();
  CHECK_OK(segc_data_json_save(root, test_path(dir, "r.json")));
  cJSON_Delete(root);
  check_synced("segc_data_json_save");

  reset_counts();
  CHECK_OK(segc_data_copy_file(test_path(dir, "r.json"),
                               test_path(dir, "copy.json")));
  check_synced("segc_data_copy_file");

  segc_canvas canvas;
  CHECK_OK(segc_canvas_init(&canvas, 4, 3, segc_rgb_make(1, 2, 3)));
  reset_counts();
  CHECK_OK(segc_canvas_write_png(&canvas, test_path(dir, "p.png")));
  segc_canvas_free(&canvas);
  check_synced("segc_canvas_write_png");

  segc_config config;
  segc_config_defaults(&config);
  reset_counts();
  CHECK_OK(segc_config_write_json(&config, test_path(dir, "config.json")));
  check_synced("segc_config_write_json");

  const int64_t dim[3] = {4, 5, 6};
  segc_volume v;
  CHECK_OK(segc_volume_alloc(&v, SEGC_F32, dim));
  for (int a = 0; a < 3; ++a) v.affine[a][a] = 1.0;
  reset_counts();
  CHECK_OK(segc_nifti_write(test_path(dir, "v.nii.gz"), &v, NULL));
  check_synced("segc_nifti_write (gzip)");
  reset_counts();
  CHECK_OK(segc_nifti_write(test_path(dir, "v.nii"), &v, NULL));
  check_synced("segc_nifti_write");
  segc_volume_free(&v);
  CHECK(no_temporaries(dir), "temporary files left in %s", dir);
  return 0;
}

// seginfer's multi-file stage: its renames into place are made durable.
static int test_output_stage(const char *dir) {
  segc_output_stage stage;
  segc_output_stage_init(&stage);
  const char *temp;
  CHECK_OK(segc_output_stage_file(&stage, test_path(dir, "staged.txt"), &temp));
  FILE *f = fopen(temp, "w");
  CHECK(f && fputs("staged\n", f) >= 0 && fclose(f) == 0, "write %s", temp);
  reset_counts();
  CHECK_OK(segc_output_stage_commit(&stage));
  CHECK(synced_folders >= 1, "output stage: the folder was not fsynced after "
        "its renames");
  segc_output_stage_abort(&stage);
  CHECK(access(test_path(dir, "staged.txt"), F_OK) == 0, "staged file in place");
  return 0;
}

int main(void) {
  const char *dir = test_temp_dir("atomic_writers");
  if (test_atomic_file(dir)) return test_finish_failed();
  if (test_writers(dir)) return test_finish_failed();
  if (test_output_stage(dir)) return test_finish_failed();
  return test_finish("atomic_writers");
}
