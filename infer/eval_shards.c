#include "infer/eval_shards.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

segc_status segc_eval_shards_init(segc_eval_shards *s, segc_comm *comm,
                                  int cases, int classes, bool with_nsd) {
  memset(s, 0, sizeof *s);
  s->comm = comm;
  s->rank = segc_comm_rank(comm);
  s->world_size = segc_comm_world_size(comm);
  s->cases = cases;
  s->classes = classes;
  s->with_nsd = with_nsd;
  const size_t cells = (size_t)(cases > 0 ? cases : 1) * (size_t)classes;
  s->dice = calloc(cells, sizeof *s->dice);
  s->nsd = with_nsd ? calloc(cells, sizeof *s->nsd) : NULL;
  if (!s->dice || (with_nsd && !s->nsd)) {
    segc_eval_shards_free(s);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "segeval: out of memory for %d cases",
                     cases);
  }
  return SEGC_OK;
}

void segc_eval_shards_free(segc_eval_shards *s) {
  free(s->dice);
  free(s->nsd);
  s->dice = s->nsd = NULL;
}

int segc_eval_shards_rounds(const segc_eval_shards *s) {
  return (s->cases + s->world_size - 1) / s->world_size;
}

int segc_eval_shards_case(const segc_eval_shards *s, int round) {
  const int64_t index = (int64_t)round * s->world_size + s->rank;
  return round >= 0 && index < s->cases ? (int)index : -1;
}

segc_status segc_eval_shards_put(segc_eval_shards *s, int index,
                                 const segc_case_metrics *m) {
  if (index < 0 || index >= s->cases || m->classes != s->classes ||
      (s->with_nsd && !m->nsd))
    return SEGC_FAIL(SEGC_ERR_INTERNAL,
                     "segeval: case %d of %d with %d classes does not fit the "
                     "table (%d classes)",
                     index, s->cases, m->classes, s->classes);
  const size_t offset = (size_t)index * (size_t)s->classes;
  memcpy(s->dice + offset, m->dice, sizeof(double) * (size_t)s->classes);
  if (s->with_nsd)
    memcpy(s->nsd + offset, m->nsd, sizeof(double) * (size_t)s->classes);
  return SEGC_OK;
}

segc_status segc_eval_shards_agree(segc_eval_shards *s, segc_status local,
                                   int *failed_rank) {
  // The lowest failing rank: MIN over (rank if failed, else world size).
  int64_t lowest = local == SEGC_OK ? s->world_size : s->rank;
  SEGC_TRY(segc_comm_allreduce_i64(s->comm, &lowest, 1, SEGC_COMM_MIN));
  *failed_rank = lowest < s->world_size ? (int)lowest : -1;
  return SEGC_OK;
}

segc_status segc_eval_shards_gather(segc_eval_shards *s) {
  const size_t cells = (size_t)s->cases * (size_t)s->classes;
  if (cells == 0) return SEGC_OK;
  SEGC_TRY(segc_comm_allreduce_f64(s->comm, s->dice, cells, SEGC_COMM_SUM));
  if (s->with_nsd)
    SEGC_TRY(segc_comm_allreduce_f64(s->comm, s->nsd, cells, SEGC_COMM_SUM));
  return SEGC_OK;
}
