// segeval's cases dealt over the processes of an mpirun job as MONAI's
// multi-GPU evaluation deals them (DistributedSampler with shuffle false and
// even_divisible false): case i to rank i mod world size, no padding, so
// every case is evaluated exactly once.
//
// Each rank fills the rows of its own cases; segc_eval_shards_gather then
// gives every rank the whole table in dataset order, so rank 0 writes the
// CSVs a single process writes, byte for byte. (MONAI's MetricsSaver lists
// the gathered rows rank by rank instead; the values are the same.)
//
// The cases are evaluated in rounds, one case per rank a round, and the
// ranks agree after each round whether one failed: a failure stops the
// others after the round, and no rank waits for another longer than one
// case takes (the communicator's watchdog, SEGC_COMM_TIMEOUT_S, must exceed
// that: dist/comm.h).
#ifndef SEGC_INFER_EVAL_SHARDS_H
#define SEGC_INFER_EVAL_SHARDS_H

#include <stdbool.h>

#include "dist/comm.h"
#include "infer/metrics.h"

typedef struct {
  segc_comm *comm;  // not owned
  int rank, world_size;
  int cases, classes;
  bool with_nsd;
  double *dice;  // (cases, classes): this rank's rows, zeros elsewhere
  double *nsd;   // (cases, classes) when with_nsd, else NULL
} segc_eval_shards;

segc_status segc_eval_shards_init(segc_eval_shards *s, segc_comm *comm,
                                  int cases, int classes, bool with_nsd);
void segc_eval_shards_free(segc_eval_shards *s);

// How many rounds every rank runs, and the case of `round` on this rank
// (-1 when this rank has none in that round, the last round of an uneven
// split).
int segc_eval_shards_rounds(const segc_eval_shards *s);
int segc_eval_shards_case(const segc_eval_shards *s, int round);

// Stores case `index`'s metrics (classes must match).
segc_status segc_eval_shards_put(segc_eval_shards *s, int index,
                                 const segc_case_metrics *m);

// Collective: *failed_rank is the lowest rank whose `local` is not SEGC_OK,
// or -1 when every rank succeeded. A failure of the exchange itself is
// returned (the caller then cannot rely on the others and ends the job).
segc_status segc_eval_shards_agree(segc_eval_shards *s, segc_status local,
                                   int *failed_rank);

// Collective: every rank ends with every row. A row is only ever filled on
// one rank, so the element-wise sum over ranks (zeros elsewhere) is that
// row exactly, NaNs included.
segc_status segc_eval_shards_gather(segc_eval_shards *s);

#endif
