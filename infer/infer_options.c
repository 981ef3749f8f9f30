#include "infer/infer_options.h"

#include <stdlib.h>
#include <string.h>

#include "core/dnnl_context.h"
#include "core/dtype.h"

bool segc_infer_flag_parse(const char *option, segc_config *config) {
  if (strcmp(option, "--lowres") && strcmp(option, "--highres")) return false;
  config->highres = !strcmp(option, "--highres");
  config->pixdim_set = false;  // the flag picks the model's own spacing
  return true;
}

static bool parse_int(const char *value, int min, int max, int *out) {
  char *end = NULL;
  const long v = strtol(value, &end, 10);
  if (end == value || *end || v < min || v > max) return false;
  *out = (int)v;
  return true;
}

segc_option_result segc_infer_option_parse(const char *option,
                                           const char *value,
                                           segc_config *config) {
  if (!strcmp(option, "--overlap")) {
    char *end = NULL;
    const double v = strtod(value, &end);
    if (end == value || *end || !(v >= 0.0 && v < 1.0)) {
      segc_fail(SEGC_ERR_INVALID, "--overlap must be a number in [0, 1)");
      return SEGC_OPTION_BAD;
    }
    config->sw_overlap = v;
  } else if (!strcmp(option, "--sw-batch-size")) {
    if (!parse_int(value, 1, 64, &config->sw_batch_size)) {
      segc_fail(SEGC_ERR_INVALID, "--sw-batch-size must be an integer in 1..64");
      return SEGC_OPTION_BAD;
    }
  } else if (!strcmp(option, "--threads")) {
    if (!parse_int(value, 0, 1024, &config->threads)) {
      segc_fail(SEGC_ERR_INVALID, "--threads must be an integer in 0..1024");
      return SEGC_OPTION_BAD;
    }
  } else if (!strcmp(option, "--dtype")) {
    const int dtype = strcmp(value, "auto") ? segc_dtype_parse(value) : -2;
    if (dtype != SEGC_F32 && dtype != SEGC_BF16 && dtype != -2) {
      segc_fail(SEGC_ERR_INVALID, "--dtype must be auto, f32 or bf16");
      return SEGC_OPTION_BAD;
    }
    if (dtype == SEGC_BF16 && segc_dnnl_require_compute(SEGC_BF16) != SEGC_OK)
      return SEGC_OPTION_BAD;  // this CPU has no bf16 convolutions
    config->amp = dtype == SEGC_BF16 ? SEGC_AMP_BF16
                  : dtype == SEGC_F32 ? SEGC_AMP_OFF
                                      : SEGC_AMP_ON;  // auto
    config->amp_given = true;
  } else {
    return SEGC_OPTION_NOT_MINE;
  }
  return SEGC_OPTION_TAKEN;
}

void segc_infer_dtype_default(segc_config *config) {
  if (!config->amp_given) config->amp = SEGC_AMP_ON;
}
