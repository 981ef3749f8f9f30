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

#endif
