// Command-line options that seginfer and segeval share: the sliding-window
// settings, threads, precision and the model resolution.
#ifndef SEGC_INFER_INFER_OPTIONS_H
#define SEGC_INFER_INFER_OPTIONS_H

#include <stdbool.h>

#include "config/config.h"

typedef enum {
  SEGC_OPTION_NOT_MINE = 0,  // not a shared option; the program looks at it
  SEGC_OPTION_TAKEN,         // parsed into the config
  SEGC_OPTION_BAD            // a shared option with an invalid value (message set)
} segc_option_result;

// --lowres / --highres (flags without a value).
bool segc_infer_flag_parse(const char *option, segc_config *config);

// --overlap, --sw-batch-size, --threads, --dtype auto|f32|bf16 (options
// with a value). --dtype is applied at once: it overrides the config's amp
// (auto is amp true; bf16 is refused on a CPU without bf16 convolutions).
segc_option_result segc_infer_option_parse(const char *option,
                                           const char *value,
                                           segc_config *config);

// After the command line: where neither a config nor --set nor --dtype
// named the precision, auto (amp true; core/dtype_auto.h). An explicit amp
// false stays f32, the exact-parity mode.
void segc_infer_dtype_default(segc_config *config);

#endif
