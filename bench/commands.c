#include "bench/bench.h"

#include <stddef.h>

const segc_bench_command segc_bench_commands[] = {
    {"transforms", segc_bench_transforms},
    {NULL, NULL},
};
