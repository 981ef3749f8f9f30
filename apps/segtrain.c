// segtrain: the MONAI bundle's training (configs/train.json) in C.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/parallel.h"
#include "dist/comm.h"
#include "train/train_loop.h"

static void usage(FILE *out) {
  fprintf(out,
      "usage: segtrain [FILE.json ...] [--config FILE ...] [--set KEY=VALUE ...]\n"
      "                [options]\n"
      "Trains the bundle's SegResNet as `python -m monai.bundle run\n"
      "--config_file configs/train.json` does: `segtrain train.json`. FILE may\n"
      "be segc's own config (configs/train.json) or the MONAI bundle's\n"
      "train.json; several are merged in order (e.g. train.json then\n"
      "evaluate.json). Several processes train one model together under\n"
      "mpirun with distributed true: `mpirun -np N segtrain configs/train.json\n"
      "configs/multi_cpu_train.json` (batch_size per process); on GPUs\n"
      "configs/multi_gpu_train.json (device cuda, NCCL: a CUDA build).\n"
      SEGC_CONFIG_FILE_USAGE
      SEGC_CONFIG_ARGS_USAGE
      "  --resume              continue from the saved training state\n"
      "                        (ckpt_dir/training_state.segc, or the config's\n"
      "                        \"resume\" path); none saved yet: start anew\n"
      "  --overwrite           start a new run over an earlier run's logs and\n"
      "                        state in these folders (removes them)\n"
      "  --max-steps N         stop after N steps in this run (benchmarks)\n"
      "  --threads N           threads (default: the config's, else all cores)\n"
      "  --quiet               no progress bar, plain lines only\n"
      "Outputs: ckpt_dir/model.pt (or model_lowres.pt, best validation Dice,\n"
      "PyTorch format), ckpt_dir/training_state.segc (resumable),\n"
      "ckpt_dir/segc_config.json, output_dir/train.{csv,jsonl},\n"
      "output_dir/validation.{csv,jsonl}, TensorBoard events and\n"
      "output_dir/training_curves.png.\n");
}

// The rest of main, with the communicator made.
static int run(int argc, char **argv, const segc_config *config_in,
               segc_comm *comm, bool lead) {
  segc_config config = *config_in;
  segc_train_options options = {0};
  options.log = stderr;
  options.terminal = isatty(fileno(stderr));
  options.comm = comm;
  int threads = -1;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "--resume")) {
      options.resume = true;
    } else if (!strcmp(a, "--overwrite")) {
      options.overwrite = true;
    } else if (!strcmp(a, "--quiet")) {
      options.terminal = false;
    } else if ((!strcmp(a, "--max-steps") || !strcmp(a, "--threads")) && i + 1 < argc) {
      char *end;
      const long long v = strtoll(argv[++i], &end, 10);
      if (*end || v < 0) {
        fprintf(stderr, "segtrain: error: %s needs a non-negative integer\n", a);
        return 2;
      }
      if (!strcmp(a, "--max-steps")) options.max_steps = v;
      else threads = (int)v;
    } else {
      fprintf(stderr, "segtrain: error: unknown argument '%s' (%s)\n", a,
              a[0] == '-' ? "see --help" : "config files end in .json");
      return 2;
    }
  }
  if (config.resume[0]) options.resume = true;
  segc_set_threads(threads >= 0 ? threads : config.threads);
  char *json = NULL;
  if (lead && segc_config_to_json(&config, &json) == SEGC_OK) {
    fprintf(stderr, "segtrain: effective config:\n%s\n", json);
    free(json);
  }
  segc_train_summary summary;
  const segc_status status = segc_train_run(&config, &options, &summary);
  if (status != SEGC_OK) {
    // The other ranks may be waiting for this one: end the whole job.
    if (config.distributed && segc_comm_world_size(comm) > 1)
      segc_comm_abort(comm, 1, segc_error_message());
    fprintf(stderr, "segtrain: error: %s\n", segc_error_message());
    return 1;
  }
  if (!lead) return 0;
  fprintf(stderr,
          "segtrain: %lld steps in %.1f s (%lld in total, %lld epochs), last "
          "loss %.5f, best validation Dice %.4f (epoch %lld), loader wait "
          "%.2f s, peak memory %.2f GB\n",
          (long long)summary.steps, summary.seconds, (long long)summary.total_steps,
          (long long)summary.epochs, summary.last_loss, summary.best_dice,
          (long long)summary.best_epoch, summary.loader_wait_seconds,
          (double)summary.peak_rss_bytes / 1e9);
  return 0;
}

int main(int argc, char **argv) {
  if (segc_config_answer_help(argc, argv, usage)) return 0;
  segc_config config;
  segc_config_notes notes = {0};
  static const char *const value_options[] = {"--max-steps", "--threads", NULL};
  if (segc_config_from_command_line(&argc, argv, value_options, &config, &notes,
                                    NULL) != SEGC_OK) {
    fprintf(stderr, "segtrain: error: %s\n", segc_error_message());
    segc_config_notes_free(&notes);
    return 2;
  }
  // Under mpirun every process reads the same command line; rank 0 speaks.
  segc_comm *comm = NULL;
  if (segc_comm_create(&comm) != SEGC_OK) {
    fprintf(stderr, "segtrain: error: %s\n", segc_error_message());
    segc_config_notes_free(&notes);
    return 1;
  }
  const bool lead = segc_comm_rank(comm) == 0;
  // The notes are said before the remaining arguments are checked, so that
  // no exit path holds them.
  if (lead) segc_config_notes_print(&notes, stderr);
  segc_config_notes_free(&notes);
  const int code = run(argc, argv, &config, comm, lead);
  segc_comm_free(comm);
  return code;
}
