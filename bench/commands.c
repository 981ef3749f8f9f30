#include "bench/bench.h"

#include <stddef.h>

const segc_bench_command segc_bench_commands[] = {
    {"conv", segc_bench_conv},
    {"groupnorm", segc_bench_groupnorm},
    {"loss", segc_bench_loss},
    {NULL, NULL},
};
