// segbench sub-commands. Each prints a table and returns the exit code.
#ifndef SEGC_BENCH_BENCH_H
#define SEGC_BENCH_BENCH_H

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);  // argv[0] is the sub-command
} segc_bench_command;

// Sub-commands (bench/bench_<name>.c).
int segc_bench_transforms(int argc, char **argv);

// NULL-terminated table, in bench/commands.c.
extern const segc_bench_command segc_bench_commands[];

// SegResNet convolution shapes (bench/bench_conv.c).
int segc_bench_conv(int argc, char **argv);
// GroupNorm+ReLU (bench/bench_groupnorm.c); upsample2x and the residual add
// (bench/bench_upsample_add.c).
int segc_bench_groupnorm(int argc, char **argv);
int segc_bench_upsample_add(int argc, char **argv);
// The fused DiceCE loss, forward and backward (bench/bench_loss.c).
int segc_bench_loss(int argc, char **argv);
// seginfer end to end, beside MONAI when available (bench/bench_infer.c).
int segc_bench_infer(int argc, char **argv);

// Whole-network forward and training step (bench/bench_network.c).
int segc_bench_forward(int argc, char **argv);
int segc_bench_train_step(int argc, char **argv);
// The bundle's training throughput at batch 4 and 2 (train-step's runs).
int segc_bench_train(int argc, char **argv);

// Data-parallel throughput: train --ranks N, and its worker
// (bench/bench_train_ranks.c).
int segc_bench_train_ranks(int argc, char **argv);
int segc_bench_train_ranks_worker(int argc, char **argv);

// segc's forward beside PyTorch 2 and OpenVINO (bench/bench_peers.c).
int segc_bench_peers(int argc, char **argv);

// The training loader's crops per second (bench/bench_loader.c).
int segc_bench_loader(int argc, char **argv);

#endif
