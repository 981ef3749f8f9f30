// Runs every file of the NIfTI fuzz corpus (tests/fuzz/corpus_nifti: valid
// seeds and minimised crashers) through segc_nifti_read_memory and checks
// the harness's contract: success gives a sane volume, failure a one-line
// message naming the input and no volume. Under the sanitizer build this
// replays each past crash.
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/nifti_io.h"
#include "util/test_util.h"

static uint8_t *read_whole(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  uint8_t *bytes = malloc(cap);
  for (size_t got; bytes && (got = fread(bytes + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) bytes = realloc(bytes, cap *= 2);
  }
  const bool failed = ferror(f) != 0;
  fclose(f);
  if (failed) {
    free(bytes);
    return NULL;
  }
  *size = n;
  return bytes;
}

static void check_one(const char *path, const char *name, int *ok, int *refused) {
  size_t size = 0;
  uint8_t *bytes = read_whole(path, &size);
  CHECK(bytes != NULL, "cannot read %s", path);
  if (!bytes) return;
  segc_volume v;
  segc_nifti_info info;
  segc_clear_error();
  const segc_status status = segc_nifti_read_memory(bytes, size, name, &v, &info);
  if (status == SEGC_OK) {
    (*ok)++;
    CHECK(v.data && v.dim[0] > 0 && v.dim[1] > 0 && v.dim[2] > 0,
          "%s: bad volume", name);
    bool finite = true;
    for (int e = 0; e < 16; ++e) finite &= isfinite(v.affine[e / 4][e % 4]) != 0;
    CHECK(finite, "%s: non-finite affine", name);
    if (v.dtype == SEGC_F32) {
      int64_t nonfinite = 0;
      for (int64_t i = 0; i < segc_volume_numel(&v); ++i)
        nonfinite += !isfinite(((const float *)v.data)[i]);
      CHECK(nonfinite == 0, "%s: %lld non-finite voxels accepted", name,
            (long long)nonfinite);
    }
    segc_volume_free(&v);
  } else {
    (*refused)++;
    const char *message = segc_error_message();
    CHECK(v.data == NULL, "%s: failed read left a volume", name);
    CHECK(strncmp(message, name, strlen(name)) == 0 && !strchr(message, '\n'),
          "%s: message not one line naming the input: %s", name, message);
  }
  // Every seed is a valid file and must read.
  if (strncmp(name, "seed_", 5) == 0)
    CHECK(status == SEGC_OK, "%s: seed refused: %s", name, segc_error_message());
  free(bytes);
}

int main(void) {
  const char *source = getenv("SEGC_SOURCE_DIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus_nifti", source ? source : ".");
  DIR *d = opendir(dir);
  CHECK(d != NULL, "cannot open %s", dir);
  if (!d) return test_finish("fuzz_regression_nifti");
  int ok = 0, refused = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    check_one(test_path(dir, e->d_name), e->d_name, &ok, &refused);
  }
  closedir(d);
  printf("corpus: %d files read, %d refused\n", ok, refused);
  CHECK(ok >= 18, "only %d corpus files read (the seeds alone are 18)", ok);
  return test_finish("fuzz_regression_nifti");
}
