// Replays tests/fuzz/corpus_checkpoint_pt/ (fuzzer seeds, inputs that once
// crashed, small corner cases) through the checkpoint reader, with and
// without CRC checks. Each input must end in a result that is consistent or
// in an error with a message; under the sanitizer build (ctest label
// "sanitize") any out-of-bounds access or undefined behaviour fails the run.
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint_pt.h"
#include "io/checkpoint_pt_internal.h"
#include "util/test_util.h"

static uint8_t *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *data = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    const long length = ftell(f);
    if (length >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)length + 1)) != NULL &&
        fread(data, 1, (size_t)length, f) != (size_t)length) {
      free(data);
      data = NULL;
    }
    *size = length > 0 ? (size_t)length : 0;
  }
  fclose(f);
  return data;
}

// A successful parse: names present and unique by lookup, dtypes and ranks
// valid, every data byte readable.
static void check_result(const char *name, const segc_pt_state_dict *dict) {
  unsigned checksum = 0;
  for (int i = 0; i < dict->count; ++i) {
    const segc_pt_tensor *t = &dict->tensors[i];
    CHECK(t->name && t->data && t->ndim >= 0 && t->ndim <= SEGC_PT_MAX_DIMS,
          "%s: tensor %d malformed", name, i);
    const int64_t bytes = segc_pt_tensor_bytes(t);
    CHECK(bytes >= 0, "%s: tensor %d has a bad shape or dtype", name, i);
    for (int64_t k = 0; k < bytes; ++k) checksum += ((const uint8_t *)t->data)[k];
    CHECK(segc_pt_find(dict, t->name) == t, "%s: '%s' not found", name, t->name);
  }
  (void)checksum;
}

static void replay(const char *name, const uint8_t *data, size_t size,
                   bool verify_crc, int *parsed) {
  const segc_pt_parse_options options = {.verify_crc = verify_crc};
  segc_pt_state_dict first, second;
  segc_clear_error();
  const segc_status status = segc_pt_parse_with(data, size, &options, &first);
  if (status == SEGC_OK) {
    check_result(name, &first);
    ++*parsed;
  } else {
    CHECK(strcmp(segc_error_message(), "no error recorded") != 0 &&
              first.count == 0 && first.tensors == NULL,
          "%s: failure without a message or with a partial result", name);
  }
  // The same bytes give the same answer.
  CHECK(segc_pt_parse_with(data, size, &options, &second) == status &&
            second.count == first.count,
        "%s: second parse differs", name);
  segc_pt_free(&first);
  segc_pt_free(&second);
}

int main(void) {
  const char *source = getenv("SEGC_SOURCE_DIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus_checkpoint_pt",
           source && *source ? source : ".");
  DIR *folder = opendir(dir);
  CHECK(folder != NULL, "cannot open %s", dir);
  if (!folder) return test_finish_failed();
  int files = 0, parsed_crc = 0, parsed_no_crc = 0;
  for (struct dirent *e; (e = readdir(folder)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    size_t size = 0;
    uint8_t *data = read_file(test_path(dir, e->d_name), &size);
    CHECK(data != NULL, "cannot read %s", e->d_name);
    if (!data) continue;
    ++files;
    replay(e->d_name, data, size, true, &parsed_crc);
    replay(e->d_name, data, size, false, &parsed_no_crc);
    free(data);
  }
  closedir(folder);
  printf("replayed %d inputs: %d parse with CRC checks, %d without\n", files,
         parsed_crc, parsed_no_crc);
  CHECK(files >= 10, "only %d corpus files in %s", files, dir);
  CHECK(parsed_crc >= 4, "the torch fixtures in the corpus should parse");
  return test_finish("fuzz_regression_pt");
}
