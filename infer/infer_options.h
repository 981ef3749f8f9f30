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

// --overlap, --sw-batch-size, --threads, --dtype f32|bf16 (options with a
// value). --dtype is applied at once: it overrides the config's amp.
segc_option_result segc_infer_option_parse(const char *option,
                                           const char *value,
                                           segc_config *config);

#endif
