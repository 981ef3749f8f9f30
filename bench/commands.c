#include "bench/bench.h"

#include <stddef.h>

int segc_bench_nifti(int argc, char **argv);  // bench/nifti.c

const segc_bench_command segc_bench_commands[] = {
    {"transforms", segc_bench_transforms},
    {"nifti", segc_bench_nifti},
    {NULL, NULL},
};
