// AdamW against (1) a double-precision restatement of torch.optim.AdamW's
// single-tensor update written here, and (2) the values torch.optim.AdamW
// itself produced (tests/data/adamw_reference.bin, from
// tools/make_adamw_reference.py, format documented there).
//
// Tolerances:
// - vs the double reference: 2e-6 relative (of max(|value|, 1) for the
//   parameters, of |v| for v, and for m, which can cancel to near zero, of
//   the sum of the magnitudes of the terms it holds). segc works in f32:
//   each step rounds a handful of times (~6e-8 each), over 5 steps.
// - vs PyTorch: 4 ulp. segc follows PyTorch's f32 operations in order,
//   with the multiply-adds its vectorised kernels fuse done by fmaf, so they
//   agree to the bit here; the margin is for a PyTorch build whose kernels
//   fuse differently (an m near cancellation could then differ by more than
//   a few ulp: regenerate the file and look if this fails).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "train/adamw.h"
#include "train/adamw_kernels.h"
#include "util/test_util.h"

// CHECK_OK for functions that return nothing: counts the failure and returns.
#define CHECK_OK_VOID(expr)                                              \
  do {                                                                   \
    test_checks++;                                                       \
    segc_status check_status_ = (expr);                                  \
    if (check_status_ != SEGC_OK) {                                      \
      test_failures++;                                                   \
      fprintf(stderr, "FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #expr, \
              segc_error_message());                                     \
      return;                                                            \
    }                                                                    \
  } while (0)

// torch.optim.AdamW's step (amsgrad false), in double.
static void reference_step(const segc_adamw_config *c, int64_t t, double *p,
                           double *m, double *v, const float *g, int64_t n) {
  const double bias_correction1 = 1.0 - pow(c->beta1, (double)t);
  const double bias_correction2 = 1.0 - pow(c->beta2, (double)t);
  for (int64_t i = 0; i < n; ++i) {
    p[i] *= 1.0 - c->lr * c->weight_decay;
    m[i] = c->beta1 * m[i] + (1.0 - c->beta1) * g[i];
    v[i] = c->beta2 * v[i] + (1.0 - c->beta2) * (double)g[i] * g[i];
    const double denom = sqrt(v[i]) / sqrt(bias_correction2) + c->eps;
    p[i] -= c->lr / bias_correction1 * m[i] / denom;
  }
}

// Distance in units in the last place of b.
static double ulps(float a, float b) {
  const double ulp = fmax(fabs(nextafterf(b, INFINITY) - b), 1e-45);
  return fabs((double)a - b) / ulp;
}

static void check_against_double(void) {
  enum { COUNT = 300, STEPS = 5 };
  segc_adamw_config config = segc_adamw_default();
  config.lr = 1e-3;
  config.weight_decay = 1e-2;
  float params[COUNT], m[COUNT], v[COUNT], grads[COUNT];
  double ref_p[COUNT], ref_m[COUNT] = {0}, ref_v[COUNT] = {0};
  // m can cancel to near zero: its error is judged against the sum of the
  // magnitudes of the terms it holds, m_scale = b1 m_scale + (1 - b1) |g|.
  double m_scale[COUNT] = {0};
  test_fill_uniform(params, COUNT, -2.0f, 2.0f, 1);
  for (int i = 0; i < COUNT; ++i) ref_p[i] = params[i];
  segc_adamw opt;
  CHECK_OK_VOID(segc_adamw_init(&opt, &config, m, v, COUNT));
  for (int t = 1; t <= STEPS; ++t) {
    test_fill_uniform(grads, COUNT, -1.0f, 1.0f, 10 + (uint64_t)t);
    for (int i = 0; i < 20; ++i) grads[i] *= 1e-8f;  // sqrt(v) ~ eps
    grads[20] = 0.0f;
    CHECK_OK_VOID(segc_adamw_step(&opt, params, grads));
    reference_step(&config, t, ref_p, ref_m, ref_v, grads, COUNT);
    for (int i = 0; i < COUNT; ++i)
      m_scale[i] = config.beta1 * m_scale[i] + (1.0 - config.beta1) * fabs(grads[i]);
    double worst_p = 0.0, worst_m = 0.0, worst_v = 0.0;
    for (int i = 0; i < COUNT; ++i) {
      worst_p = fmax(worst_p, fabs(params[i] - ref_p[i]) / fmax(fabs(ref_p[i]), 1.0));
      worst_m = fmax(worst_m, fabs(m[i] - ref_m[i]) / (m_scale[i] + 1e-30));
      worst_v = fmax(worst_v, fabs(v[i] - ref_v[i]) / (fabs(ref_v[i]) + 1e-30));
    }
    CHECK(worst_p <= 2e-6 && worst_m <= 2e-6 && worst_v <= 2e-6,
          "step %d: relative errors params %.3g m %.3g v %.3g", t, worst_p,
          worst_m, worst_v);
    if (t == STEPS)
      printf("vs double after %d steps: params %.2g, m %.2g, v %.2g\n", t,
             worst_p, worst_m, worst_v);
  }
  CHECK(opt.step == STEPS, "step count %lld", (long long)opt.step);
}

static int read_exact(FILE *f, void *out, size_t bytes) {
  return fread(out, 1, bytes, f) == bytes ? 0 : -1;
}

static void check_against_torch(void) {
  const char *source_dir = getenv("SEGC_SOURCE_DIR");
  const char *path = test_path(source_dir && *source_dir ? source_dir : ".",
                               "tests/data/adamw_reference.bin");
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL, "cannot open %s", path);
  if (!f) return;
  char magic[8];
  int32_t header[3];
  double hyper[5];
  if (read_exact(f, magic, 8) || read_exact(f, header, sizeof header) ||
      read_exact(f, hyper, sizeof hyper) || memcmp(magic, "SEGCADW1", 8) ||
      header[0] != 1 || header[1] <= 0 || header[1] > (1 << 20) ||
      header[2] <= 0 || header[2] > 100) {
    CHECK(0, "%s: bad header", path);
    fclose(f);
    return;
  }
  const int64_t count = header[1];
  const int steps = header[2];
  const segc_adamw_config config = {hyper[0], hyper[1], hyper[2], hyper[3],
                                    hyper[4]};
  const size_t bytes = sizeof(float) * (size_t)count;
  float *params = malloc(bytes), *grads = malloc(bytes), *want = malloc(bytes);
  float *m = malloc(bytes), *v = malloc(bytes);
  if (!params || !grads || !want || !m || !v) abort();
  segc_adamw opt;
  if (read_exact(f, params, bytes)) CHECK(0, "%s: short file", path);
  CHECK_OK_VOID(segc_adamw_init(&opt, &config, m, v, count));
  double worst = 0.0;
  for (int t = 1; t <= steps; ++t) {
    if (read_exact(f, grads, bytes) || read_exact(f, want, bytes)) {
      CHECK(0, "%s: short file at step %d", path, t);
      break;
    }
    CHECK_OK_VOID(segc_adamw_step(&opt, params, grads));
    double step_worst = 0.0;
    int64_t at = 0;
    for (int64_t i = 0; i < count; ++i)
      if (ulps(params[i], want[i]) > step_worst) {
        step_worst = ulps(params[i], want[i]);
        at = i;
      }
    CHECK(step_worst <= 4.0, "step %d: parameter %lld is %.9g, PyTorch %.9g "
          "(%.0f ulp)", t, (long long)at, params[at], want[at], step_worst);
    worst = fmax(worst, step_worst);
  }
  float *want_m = want, *want_v = grads;
  if (read_exact(f, want_m, bytes) || read_exact(f, want_v, bytes)) {
    CHECK(0, "%s: no moments at the end", path);
  } else {
    double worst_m = 0.0, worst_v = 0.0;
    for (int64_t i = 0; i < count; ++i) {
      worst_m = fmax(worst_m, ulps(m[i], want_m[i]));
      worst_v = fmax(worst_v, ulps(v[i], want_v[i]));
    }
    CHECK(worst_m <= 4.0 && worst_v <= 4.0, "moments off by %.0f / %.0f ulp",
          worst_m, worst_v);
    printf("vs torch.optim.AdamW over %d steps: params within %.0f ulp, "
           "m %.0f ulp, v %.0f ulp\n", steps, worst, worst_m, worst_v);
  }
  fclose(f);
  free(params);
  free(grads);
  free(want);
  free(m);
  free(v);
}

// A non-finite gradient is named and nothing changes.
static void check_nonfinite(void) {
  enum { COUNT = 256 };
  float params[COUNT], m[COUNT], v[COUNT], grads[COUNT];
  float params0[COUNT], m0[COUNT], v0[COUNT];
  test_fill_uniform(params, COUNT, -1.0f, 1.0f, 20);
  test_fill_uniform(grads, COUNT, -1.0f, 1.0f, 21);
  segc_adamw opt;
  const segc_adamw_config config = segc_adamw_default();
  CHECK_OK_VOID(segc_adamw_init(&opt, &config, m, v, COUNT));
  CHECK_OK_VOID(segc_adamw_step(&opt, params, grads));  // non-zero state
  memcpy(params0, params, sizeof params);
  memcpy(m0, m, sizeof m);
  memcpy(v0, v, sizeof v);
  grads[40] = INFINITY;
  grads[17] = NAN;
  CHECK_FAILS(segc_adamw_step(&opt, params, grads), SEGC_ERR_NONFINITE,
              "gradient 17 of 256");
  grads[17] = 0.5f;
  grads[40] = 1.0f;
  grads[250] = -INFINITY;
  CHECK_FAILS(segc_adamw_step(&opt, params, grads), SEGC_ERR_NONFINITE,
              "gradient 250 of 256 is -inf");
  CHECK(!memcmp(params, params0, sizeof params) && !memcmp(m, m0, sizeof m) &&
            !memcmp(v, v0, sizeof v) && opt.step == 1,
        "a rejected step changed the parameters, moments or step count");
}

// Elementwise: 1 and 2 threads give the same bits (over the threading cutoff).
static void check_threads(void) {
  const int64_t count = 100000;
  const size_t bytes = sizeof(float) * (size_t)count;
  float *p1 = malloc(bytes), *p2 = malloc(bytes), *g = malloc(bytes);
  float *m1 = malloc(bytes), *v1 = malloc(bytes), *m2 = malloc(bytes);
  float *v2 = malloc(bytes);
  if (!p1 || !p2 || !g || !m1 || !v1 || !m2 || !v2) abort();
  test_fill_uniform(p1, count, -1.0f, 1.0f, 30);
  memcpy(p2, p1, bytes);
  test_fill_uniform(g, count, -1.0f, 1.0f, 31);
  const segc_adamw_config config = segc_adamw_default();
  segc_adamw a, b;
  const int threads = segc_threads();
  CHECK_OK_VOID(segc_adamw_init(&a, &config, m1, v1, count));
  CHECK_OK_VOID(segc_adamw_init(&b, &config, m2, v2, count));
  segc_set_threads(1);
  for (int t = 0; t < 2; ++t) CHECK_OK_VOID(segc_adamw_step(&a, p1, g));
  segc_set_threads(2);
  for (int t = 0; t < 2; ++t) CHECK_OK_VOID(segc_adamw_step(&b, p2, g));
  segc_set_threads(threads);
  CHECK(!memcmp(p1, p2, bytes) && !memcmp(m1, m2, bytes) &&
            !memcmp(v1, v2, bytes),
        "1 and 2 threads differ");
  free(p1);
  free(p2);
  free(g);
  free(m1);
  free(v1);
  free(m2);
  free(v2);
}

// The CPU kernel runs segc_adamw_element, the formula adamw_cuda.cu runs:
// two steps through segc_adamw_step and through the formula itself, with
// the scalars restated as adamw.c computes them, agree to the bit.
static void check_shared_formula(void) {
  enum { COUNT = 257 };
  float p1[COUNT], p2[COUNT], g[COUNT], m1[COUNT], v1[COUNT];
  float m2[COUNT] = {0}, v2[COUNT] = {0};
  test_fill_uniform(p1, COUNT, -1.0f, 1.0f, 40);
  memcpy(p2, p1, sizeof p1);
  test_fill_uniform(g, COUNT, -1.0f, 1.0f, 41);
  const segc_adamw_config c = segc_adamw_default();
  segc_adamw opt;
  CHECK_OK_VOID(segc_adamw_init(&opt, &c, m1, v1, COUNT));
  for (int t = 1; t <= 2; ++t) {
    CHECK_OK_VOID(segc_adamw_step(&opt, p1, g));
    const double bias_correction1 = 1.0 - pow(c.beta1, (double)t);
    const double bias_correction2 = 1.0 - pow(c.beta2, (double)t);
    const segc_adamw_scalars k = {
        .decay = (float)(1.0 - c.lr * c.weight_decay),
        .beta1 = (float)c.beta1,
        .one_minus_beta1 = (float)(1.0 - c.beta1),
        .beta2 = (float)c.beta2,
        .one_minus_beta2 = (float)(1.0 - c.beta2),
        .bias_correction2_sqrt = (float)sqrt(bias_correction2),
        .eps = (float)c.eps,
        .neg_step_size = (float)(-(c.lr / bias_correction1)),
    };
    for (int i = 0; i < COUNT; ++i)
      segc_adamw_element(&p2[i], &m2[i], &v2[i], g[i], k);
  }
  CHECK(!memcmp(p1, p2, sizeof p1) && !memcmp(m1, m2, sizeof m1) &&
            !memcmp(v1, v2, sizeof v1),
        "the CPU kernel and segc_adamw_element differ");
}

static void check_config(void) {
  const segc_adamw_config d = segc_adamw_default();
  CHECK(d.lr == 1e-4 && d.beta1 == 0.9 && d.beta2 == 0.999 && d.eps == 1e-8 &&
            d.weight_decay == 1e-5,
        "defaults are not the bundle's (lr 1e-4, betas 0.9/0.999, eps 1e-8, "
        "wd 1e-5)");
  float m[4], v[4];
  segc_adamw opt;
  segc_adamw_config bad = d;
  bad.beta2 = 1.0;
  CHECK_FAILS(segc_adamw_init(&opt, &bad, m, v, 4), SEGC_ERR_INVALID,
              "beta2 1");
  bad = d;
  bad.lr = -1.0;
  CHECK_FAILS(segc_adamw_init(&opt, &bad, m, v, 4), SEGC_ERR_INVALID,
              "learning rate -1");
}

int main(void) {
  check_against_double();
  check_against_torch();
  check_nonfinite();
  check_threads();
  check_shared_formula();
  check_config();
  return test_finish("adamw");
}
