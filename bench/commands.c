#include "bench/bench.h"

#include <stddef.h>

const segc_bench_command segc_bench_commands[] = {
    {"loss", segc_bench_loss},
    {NULL, NULL},
};
