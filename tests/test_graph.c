// The tape itself, with two toy ops defined here: y = a * x (scale) and
// y = x1 + x2 (sum). Checks accumulation into a value used twice, that
// inference mode frees activations at once, that the tape frees what it held
// after backward, and that a recomputable value is rebuilt when needed.
#include <string.h>

#include "autograd/graph.h"
#include "util/test_util.h"

typedef struct {
  segc_value *x, *y;
  float a;
} scale_saved;

static int recomputes;

static void scale_kernel(const segc_tensor *x, float a, segc_tensor *y) {
  const float *xs = x->data;
  float *ys = y->data;
  for (int64_t i = 0; i < segc_tensor_numel(x); ++i) ys[i] = a * xs[i];
}

static segc_status scale_backward(segc_graph *g, void *p) {
  scale_saved *s = p;
  segc_tensor gx;
  bool acc;
  SEGC_TRY(segc_value_grad_target(g, s->x, &gx, &acc));
  const float *gy = s->y->grad.data;
  float *out = gx.data;
  for (int64_t i = 0; i < segc_tensor_numel(&gx); ++i)
    out[i] = (acc ? out[i] : 0.0f) + s->a * gy[i];
  return SEGC_OK;
}

static segc_status scale_recompute(segc_graph *g, void *p, segc_value *out) {
  (void)g;
  scale_saved *s = p;
  recomputes++;
  scale_kernel(&s->x->data, s->a, &out->data);
  return SEGC_OK;
}

static segc_status scale(segc_graph *g, segc_value *x, float a,
                         bool recomputable, segc_value **y) {
  SEGC_TRY(segc_graph_new_value(g, x->data.shape, SEGC_F32, x->data.layout,
                                x->requires_grad, y));
  scale_kernel(&x->data, a, &(*y)->data);
  if (!segc_graph_needs_tape(g, &x, 1)) return SEGC_OK;
  scale_saved *s;
  SEGC_TRY(segc_graph_alloc_saved(g, sizeof *s, (void **)&s));
  s->x = x;
  s->y = *y;
  s->a = a;
  if (recomputable) {
    (*y)->recompute = scale_recompute;
    (*y)->recompute_saved = s;
  }
  // The backward needs no data; hold x only to let recompute rebuild y.
  segc_value *held[1] = {x};
  return segc_graph_record(g, "scale", scale_backward, s, y, 1, held,
                           recomputable ? 1 : 0);
}

// Product of all elements of x times a constant: needs x's data in backward.
typedef struct {
  segc_value *x, *y;
} dot_saved;

static segc_status dot_backward(segc_graph *g, void *p) {
  dot_saved *s = p;
  segc_tensor gx;
  bool acc;
  SEGC_TRY(segc_value_grad_target(g, s->x, &gx, &acc));
  const float gy = *(const float *)s->y->grad.data;
  const float *x = s->x->data.data;
  float *out = gx.data;
  for (int64_t i = 0; i < segc_tensor_numel(&gx); ++i)
    out[i] = (acc ? out[i] : 0.0f) + gy * x[i];
  return SEGC_OK;
}

// y = 0.5 * sum(x^2)
static segc_status half_square_sum(segc_graph *g, segc_value *x,
                                   segc_value **y) {
  SEGC_TRY(segc_graph_new_value(g, segc_shape5(1, 1, 1, 1, 1), SEGC_F32,
                                SEGC_LAYOUT_NCDHW, x->requires_grad, y));
  const float *xs = x->data.data;
  double sum = 0.0;
  for (int64_t i = 0; i < segc_tensor_numel(&x->data); ++i)
    sum += 0.5 * (double)xs[i] * xs[i];
  *(float *)(*y)->data.data = (float)sum;
  if (!segc_graph_needs_tape(g, &x, 1)) return SEGC_OK;
  dot_saved *s;
  SEGC_TRY(segc_graph_alloc_saved(g, sizeof *s, (void **)&s));
  s->x = x;
  s->y = *y;
  segc_value *held[1] = {x};
  return segc_graph_record(g, "half_square_sum", dot_backward, s, y, 1, held,
                           1);
}

int main(void) {
  segc_arena activations, scratch;
  CHECK_OK(segc_arena_init(&activations, "activations", 1 << 20,
                           SEGC_DEVICE_CPU));
  CHECK_OK(segc_arena_init(&scratch, "scratch", 1 << 16, SEGC_DEVICE_CPU));
  segc_graph g;
  segc_backend_context context;
  CHECK_OK(segc_backend_context_init(&context, SEGC_DEVICE_CPU, &scratch));
  CHECK_OK(segc_graph_init(&g, &context, &activations, 1 << 16));

  float xin[4] = {1, 2, 3, 4}, xgrad[4] = {0};
  segc_tensor xt = segc_tensor_view(xin, segc_shape5(1, 1, 1, 1, 4), SEGC_F32,
                                    SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
  segc_tensor gt = xt;
  gt.data = xgrad;

  // Inference: intermediate activations are freed as soon as released.
  g.training = false;
  segc_value *x, *a, *b;
  CHECK_OK(segc_graph_wrap(&g, xt, &gt, true, "x", &x));
  CHECK_OK(scale(&g, x, 2.0f, false, &a));
  CHECK_OK(scale(&g, a, 3.0f, false, &b));
  segc_value_release(&g, a);
  CHECK(a->data.data == NULL, "inference frees a released activation");
  segc_value_release(&g, b);
  CHECK(activations.live_bytes == 0, "inference leaves nothing live (%zu)",
        activations.live_bytes);
  CHECK(g.tape_count == 0, "inference records nothing");
  segc_graph_reset(&g);

  // Training: loss = 0.5*sum((2x)^2) + 0.5*sum((3*(2x))^2) (x used twice
  // through a), so dloss/dx = 4x + 36x = 40x.
  g.training = true;
  CHECK_OK(segc_graph_wrap(&g, xt, &gt, true, "x", &x));
  CHECK_OK(scale(&g, x, 2.0f, true, &a));  // recomputable
  CHECK_OK(scale(&g, a, 3.0f, false, &b));
  segc_value *l1, *l2;
  CHECK_OK(half_square_sum(&g, a, &l1));
  CHECK_OK(half_square_sum(&g, b, &l2));
  // Release a: the tape does not keep a recomputable value alive.
  segc_value_release(&g, a);
  CHECK(a->data.data == NULL, "recomputable value freed in forward");
  segc_value_release(&g, b);
  CHECK(b->data.data != NULL, "held value survives the caller's release");
  // Backward from l1 only: l2's entry gets no gradient and is skipped, a's
  // data is rebuilt for l1's entry, and dl1/dx = 4x.
  CHECK_OK(segc_graph_backward(&g, l1));
  for (int i = 0; i < 4; ++i)
    CHECK(xgrad[i] == 4.0f * xin[i], "grad[%d] = %g, want %g", i, xgrad[i],
          4.0f * xin[i]);
  CHECK(recomputes == 1, "recomputed %d times, want 1 (for l1's entry)",
        recomputes);
  segc_value_release(&g, l1);
  segc_value_release(&g, l2);
  CHECK(activations.live_bytes == 0,
        "after backward and releases nothing is live (%zu bytes)",
        activations.live_bytes);
  segc_graph_reset(&g);

  // Second pass: backward from l2 = 0.5*sum((6x)^2) accumulates 36x on top.
  CHECK_OK(segc_graph_wrap(&g, xt, &gt, true, "x", &x));
  CHECK_OK(scale(&g, x, 2.0f, false, &a));
  CHECK_OK(scale(&g, a, 3.0f, false, &b));
  CHECK_OK(half_square_sum(&g, b, &l2));
  segc_value_release(&g, a);
  segc_value_release(&g, b);
  CHECK_OK(segc_graph_backward(&g, l2));
  for (int i = 0; i < 4; ++i)
    CHECK(xgrad[i] == 40.0f * xin[i], "accumulated grad[%d] = %g", i,
          xgrad[i]);
  segc_value_release(&g, l2);
  CHECK(activations.live_bytes == 0, "nothing live (%zu)",
        activations.live_bytes);

  segc_value *not_scalar;
  CHECK_OK(segc_graph_wrap(&g, xt, NULL, false, "y", &not_scalar));
  CHECK_FAILS(segc_graph_backward(&g, not_scalar), SEGC_ERR_INVALID,
              "one f32 value");

  segc_graph_destroy(&g);
  segc_backend_context_destroy(&context);
  segc_arena_destroy(&activations);
  segc_arena_destroy(&scratch);
  return test_finish("graph");
}
