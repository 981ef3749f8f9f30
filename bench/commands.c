#include "bench/bench.h"
#include "bench/bench_peers.h"

#include <stddef.h>

int segc_bench_nifti(int argc, char **argv);  // bench/nifti.c

const segc_bench_command segc_bench_commands[] = {
    {"conv", segc_bench_conv},
    {"groupnorm", segc_bench_groupnorm},
    {"upsample-add", segc_bench_upsample_add},
    {"infer", segc_bench_infer},
    {"loss", segc_bench_loss},
    {"nifti", segc_bench_nifti},
    {"transforms", segc_bench_transforms},
    {"forward", segc_bench_forward},
    {"train-step", segc_bench_train_step},
    {"train", segc_bench_train},
    {"loader", segc_bench_loader},
    {"train-ranks-worker", segc_bench_train_ranks_worker},
    {"peers", segc_bench_peers},
    {"peers-segc-worker", segc_bench_peers_segc_worker},
    {NULL, NULL},
};
