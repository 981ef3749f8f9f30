// Helpers for the program-level tests of seginfer and segeval: running a
// program with its output captured, a small random SegResNet checkpoint,
// re-orienting a volume (written out independently of data/orientation.c)
// and small file checks.
#ifndef SEGC_TESTS_SEGINFER_TEST_SUPPORT_H
#define SEGC_TESTS_SEGINFER_TEST_SUPPORT_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/volume.h"
#include "io/model_io.h"
#include "layers/segresnet.h"

static char support_out[1 << 16], support_err[1 << 16];

static inline void support_read_all(const char *path, char *buffer, size_t size) {
  buffer[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  const size_t n = fread(buffer, 1, size - 1, f);
  buffer[n] = '\0';
  fclose(f);
}

// Runs `command` (a shell line) with stdout and stderr captured in
// support_out / support_err (files in `temp`); returns the exit status, or
// -1 when the program did not exit normally (killed by a signal).
static inline int support_run(const char *temp, const char *command) {
  char line[32768];
  snprintf(line, sizeof line, "%s >%s/out.txt 2>%s/err.txt", command, temp,
           temp);
  const int status = system(line);
  char path[4200];
  snprintf(path, sizeof path, "%s/out.txt", temp);
  support_read_all(path, support_out, sizeof support_out);
  snprintf(path, sizeof path, "%s/err.txt", temp);
  support_read_all(path, support_err, sizeof support_err);
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// support_run with files limited to `max_file_bytes` (RLIMIT_FSIZE, with
// SIGXFSZ ignored so that writes past the limit fail with EFBIG instead of
// killing the program).
static inline int support_run_file_limit(const char *temp, const char *command,
                                         long max_file_bytes) {
  char line[32768];
  const int n = snprintf(line, sizeof line, "%s >%s/out.txt 2>%s/err.txt",
                         command, temp, temp);
  if (n < 0 || (size_t)n >= sizeof line) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    const struct rlimit limit = {(rlim_t)max_file_bytes, (rlim_t)max_file_bytes};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
    execl("/bin/sh", "sh", "-c", line, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  char path[4200];
  snprintf(path, sizeof path, "%s/out.txt", temp);
  support_read_all(path, support_out, sizeof support_out);
  snprintf(path, sizeof path, "%s/err.txt", temp);
  support_read_all(path, support_err, sizeof support_err);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A random SegResNet (init_filters filters, 105 outputs) saved as .pt.
static inline segc_status support_make_weights(const char *path, int init_filters,
                                        uint64_t seed) {
  segc_segresnet_config config = segc_segresnet_bundle_config();
  config.init_filters = init_filters;
  segc_segresnet net;
  SEGC_TRY(segc_segresnet_create(&net, &config, false, SEGC_DEVICE_CPU));
  segc_segresnet_init_weights(&net, seed);
  const segc_status status = segc_segresnet_save_checkpoint(&net, path);
  segc_segresnet_destroy(&net);
  return status;
}

// A re-orientation: output axis a reads input axis perm[a], reversed when
// flip[a]. out[i0, i1, i2] = in[idx] with idx[perm[a]] = flip[a] ?
// n - 1 - i_a : i_a, and the affine maps each output voxel to the world
// position of the input voxel it copies.
typedef struct {
  const char *name;
  int perm[3];
  int flip[3];
} support_reorientation;

static inline segc_status support_reorient(const segc_volume *in,
                                    const support_reorientation *r,
                                    segc_volume *out) {
  int64_t dim[3];
  for (int a = 0; a < 3; ++a) dim[a] = in->dim[r->perm[a]];
  SEGC_TRY(segc_volume_alloc(out, in->dtype, dim));
  // old_index = M @ new_index + t
  double m[3][3] = {{0}}, t[3] = {0};
  for (int a = 0; a < 3; ++a) {
    const int p = r->perm[a];
    m[p][a] = r->flip[a] ? -1.0 : 1.0;
    t[p] = r->flip[a] ? (double)(in->dim[p] - 1) : 0.0;
  }
  for (int row = 0; row < 4; ++row) {
    for (int c = 0; c < 3; ++c) {
      double v = 0.0;
      for (int k = 0; k < 3; ++k) v += in->affine[row][k] * m[k][c];
      out->affine[row][c] = v;
    }
    double v = in->affine[row][3];
    for (int k = 0; k < 3; ++k) v += in->affine[row][k] * t[k];
    out->affine[row][3] = v;
  }
  const size_t bytes = segc_dtype_size(in->dtype);
  int64_t idx[3];
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k) {
        const int64_t n[3] = {i, j, k};
        for (int a = 0; a < 3; ++a)
          idx[r->perm[a]] = r->flip[a] ? in->dim[r->perm[a]] - 1 - n[a] : n[a];
        memcpy((char *)out->data + bytes * (size_t)segc_volume_offset(out, i, j, k),
               (const char *)in->data +
                   bytes * (size_t)segc_volume_offset(in, idx[0], idx[1], idx[2]),
               bytes);
      }
  return SEGC_OK;
}

static inline bool support_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

// Entries in a folder (not . and ..), -1 when it cannot be opened.
static inline int support_count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) ++n;
  closedir(d);
  return n;
}

#endif
