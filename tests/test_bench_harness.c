// bench/bench_harness.c, the timing harness every segbench command uses:
// warm-ups are run but not recorded, runs are numbered, a function may
// report its own time, the baseline runs right before each run, a failure
// stops the timing with its status, and the median of odd and even counts.
#include <string.h>

#include "bench/bench_harness.h"
#include "util/test_util.h"

typedef struct {
  int calls;
  int runs[16];     // the run numbers seen, in call order
  char order[33];   // 'b' baseline, 'j' job
  int fail_at;      // fail on this call (1-based), 0: never
  double own;       // >= 0: report this as the run's time
} probe;

static segc_status probe_job(void *context, int run, double *seconds) {
  probe *p = context;
  p->runs[p->calls % 16] = run;
  p->order[strlen(p->order)] = 'j';
  if (++p->calls == p->fail_at)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "probe failed at call %d", p->calls);
  if (p->own >= 0.0) *seconds = p->own;
  return SEGC_OK;
}

static segc_status probe_baseline(void *context, int run, double *seconds) {
  (void)run;
  probe *p = context;
  p->order[strlen(p->order)] = 'b';
  *seconds = 0.5;
  return SEGC_OK;
}

int main(void) {
  double values[5] = {5.0, 1.0, 4.0, 2.0, 3.0};
  CHECK(bench_median(values, 5) == 3.0, "median of 5: %g", values[2]);
  CHECK(values[0] == 1.0 && values[4] == 5.0, "sorted in place");
  double even[4] = {4.0, 1.0, 3.0, 2.0};
  CHECK(bench_median(even, 4) == 2.5, "median of 4 is the middle mean");
  double one = 7.0;
  CHECK(bench_median(&one, 1) == 7.0, "median of 1");

  // Two warm-ups, three timed runs, each run reporting its own time.
  probe p = {0};
  p.own = 0.25;
  double t[3] = {-1, -1, -1};
  CHECK_OK(bench_time((bench_timed_job){probe_job, &p}, 2, 3, t));
  CHECK(p.calls == 5, "2 warm-ups + 3 runs = %d calls", p.calls);
  CHECK(p.runs[0] == -2 && p.runs[1] == -1 && p.runs[2] == 0 &&
            p.runs[4] == 2,
        "runs numbered -2, -1, 0, 1, 2 (got %d %d %d .. %d)", p.runs[0],
        p.runs[1], p.runs[2], p.runs[4]);
  CHECK(t[0] == 0.25 && t[1] == 0.25 && t[2] == 0.25,
        "the function's own time is kept (%g %g %g)", t[0], t[1], t[2]);

  // Without its own time, the harness's clock (small but not negative).
  memset(&p, 0, sizeof p);
  p.own = -1.0;
  CHECK_OK(bench_time((bench_timed_job){probe_job, &p}, 0, 3, t));
  CHECK(t[0] >= 0.0 && t[0] < 1.0 && t[2] >= 0.0, "wall time %g", t[0]);

  // The baseline runs right before every run, warm-up included.
  memset(&p, 0, sizeof p);
  p.own = 0.125;
  double base[2] = {-1, -1};
  CHECK_OK(bench_time_paired((bench_timed_job){probe_job, &p},
                             (bench_timed_job){probe_baseline, &p}, 1, 2, t,
                             base));
  CHECK(!strcmp(p.order, "bjbjbj"), "baseline before each run: %s", p.order);
  CHECK(base[0] == 0.5 && base[1] == 0.5 && t[1] == 0.125,
        "baseline and job times recorded apart (%g %g)", base[0], t[1]);

  // A failure stops the timing and returns its status.
  memset(&p, 0, sizeof p);
  p.own = -1.0;
  p.fail_at = 2;
  CHECK_FAILS(bench_time((bench_timed_job){probe_job, &p}, 1, 3, t),
              SEGC_ERR_INTERNAL, "probe failed at call 2");
  CHECK(p.calls == 2, "no call after the failure (%d)", p.calls);
  return test_finish("bench_harness");
}
