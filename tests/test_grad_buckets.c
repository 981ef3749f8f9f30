// Gradient buckets (train/grad_buckets.h) on a chain of three convolutions
// whose parameters share one flat arena: every bucket's all-reduce starts
// only when its gradients are final (they equal the finished backward's),
// some start while backward is still running (overlap), each is reduced
// exactly once, and a bucket holding an undeclared gradient waits for the
// end. The all-reduce is a stand-in that doubles the bucket on wait, as a
// sum over two identical processes would.
#include <stdlib.h>
#include <string.h>

#include "conv3d_test_support.h"
#include "train/grad_buckets.h"

enum { LAYERS = 3 };
static const conv_case kChain[LAYERS] = {
    {1, 2, 8, 6, 6, 6, 3, 1, 1, true},
    {1, 8, 8, 6, 6, 6, 3, 1, 1, true},
    {1, 8, 4, 6, 6, 6, 1, 1, 0, true},
};

typedef struct {
  segc_param weight[LAYERS], bias[LAYERS];
  segc_conv3d conv[LAYERS];
  float *values, *grads;  // the flat arenas, (count,)
  int64_t count;
} chain;

static segc_status chain_init(chain *c) {
  memset(c, 0, sizeof *c);
  for (int i = 0; i < LAYERS; ++i)
    c->count += weight_count(&kChain[i]) + kChain[i].cout;
  c->values = malloc(sizeof(float) * (size_t)c->count);
  c->grads = calloc((size_t)c->count, sizeof(float));
  if (!c->values || !c->grads)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "test: out of memory");
  double *init = random_values(c->count, 41, false);
  for (int64_t i = 0; i < c->count; ++i) c->values[i] = (float)init[i];
  free(init);
  int64_t at = 0;
  for (int i = 0; i < LAYERS; ++i) {
    const conv_case *k = &kChain[i];
    segc_param *w = &c->weight[i], *b = &c->bias[i];
    snprintf(w->name, sizeof w->name, "conv%d.weight", i);
    snprintf(b->name, sizeof b->name, "conv%d.bias", i);
    w->value = segc_tensor_view(c->values + at,
                                segc_shape5(k->cout, k->cin, k->k, k->k, k->k),
                                SEGC_F32, SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
    w->grad = w->value;
    w->grad.data = c->grads + at;
    at += weight_count(k);
    b->value = segc_tensor_view(c->values + at, segc_shape5(1, k->cout, 1, 1, 1),
                                SEGC_F32, SEGC_LAYOUT_NCDHW, SEGC_DEVICE_CPU);
    b->grad = b->value;
    b->grad.data = c->grads + at;
    at += k->cout;
    const segc_conv3d_config config = {k->cin, k->cout, k->k, k->s, k->p,
                                       true};
    SEGC_TRY(segc_conv3d_init(&c->conv[i], &config, w, b));
  }
  return SEGC_OK;
}

static void chain_destroy(chain *c) {
  for (int i = 0; i < LAYERS; ++i) segc_conv3d_destroy(&c->conv[i]);
  free(c->values);
  free(c->grads);
}

// loss = 0.5 * sum(y^2), y the chain's output.
typedef struct {
  segc_value *x, *y;
} square_saved;

static segc_status square_backward(segc_graph *g, void *p) {
  square_saved *s = p;
  segc_tensor gx;
  bool accumulate;
  SEGC_TRY(segc_value_grad_target(g, s->x, &gx, &accumulate));
  const float gy = *(const float *)s->y->grad.data;
  const float *x = s->x->data.data;
  float *out = gx.data;
  for (int64_t i = 0; i < segc_tensor_numel(&gx); ++i)
    out[i] = (accumulate ? out[i] : 0.0f) + gy * x[i];
  return SEGC_OK;
}

static segc_status forward_loss(chain *c, const float *input,
                                segc_value **loss) {
  segc_graph_reset(&graph);
  graph.training = true;
  segc_value *x;
  SEGC_TRY(wrap_input((void *)input, in_shape(&kChain[0]), SEGC_F32, false, &x));
  for (int i = 0; i < LAYERS; ++i) {
    segc_value *y;
    SEGC_TRY(segc_conv3d_forward(&graph, &c->conv[i], x, SEGC_F32, &y));
    if (i > 0) segc_value_release(&graph, x);
    x = y;
  }
  SEGC_TRY(segc_graph_new_value(&graph, segc_shape5(1, 1, 1, 1, 1), SEGC_F32,
                                SEGC_LAYOUT_NCDHW, true, loss));
  const float *xs = x->data.data;
  double sum = 0.0;
  for (int64_t i = 0; i < segc_tensor_numel(&x->data); ++i)
    sum += 0.5 * (double)xs[i] * xs[i];
  *(float *)(*loss)->data.data = (float)sum;
  square_saved *s;
  SEGC_TRY(segc_graph_alloc_saved(&graph, sizeof *s, (void **)&s));
  s->x = x;
  s->y = *loss;
  SEGC_TRY(segc_graph_record(&graph, "square", square_backward, s, loss, 1,
                             &x, 1));
  segc_value_release(&graph, x);
  return SEGC_OK;
}

// The stand-in all-reduce: checks at start that the bucket already holds
// its final gradients, doubles it at wait.
typedef struct {
  const float *final_grads;  // the plain backward's result
  const float *grads;        // the arena being reduced
  int started, waited, stale_starts;
} fake_comm;

static segc_status fake_start(void *comm, float *data, int64_t count,
                              void **request) {
  fake_comm *f = comm;
  const int64_t offset = data - f->grads;
  if (memcmp(data, f->final_grads + offset, sizeof(float) * (size_t)count))
    f->stale_starts++;
  f->started++;
  *request = data;  // the bucket's start identifies it
  return SEGC_OK;
}

static int64_t bucket_count_of(const segc_grad_buckets *b, const void *data) {
  for (int i = 0; i < b->bucket_count; ++i)
    if (b->buckets[i].data == data) return b->buckets[i].count;
  return -1;
}

static segc_grad_buckets *the_buckets;

static segc_status fake_wait(void *comm, void *request) {
  fake_comm *f = comm;
  float *data = request;
  const int64_t count = bucket_count_of(the_buckets, data);
  if (count < 0) return SEGC_FAIL(SEGC_ERR_INTERNAL, "unknown request");
  for (int64_t i = 0; i < count; ++i) data[i] *= 2.0f;
  f->waited++;
  return SEGC_OK;
}

static int run(chain *c, const float *input, const float *final_grads,
               size_t bucket_bytes, bool declare, int *overlapped,
               int *buckets) {
  fake_comm f = {final_grads, c->grads, 0, 0, 0};
  segc_grad_buckets b;
  CHECK_OK(segc_grad_buckets_init(&b, c->grads, c->count, bucket_bytes,
                                  (segc_allreduce_ops){fake_start, fake_wait, NULL,
                                                       &f}));
  the_buckets = &b;
  memset(c->grads, 0, sizeof(float) * (size_t)c->count);
  segc_value *loss;
  CHECK_OK(forward_loss(c, input, &loss));
  if (!declare) graph.param_use_count = 0;  // as an op that declares nothing
  CHECK_OK(segc_grad_buckets_arm(&b, &graph));
  CHECK_OK(segc_graph_backward(&graph, loss));
  CHECK_OK(segc_grad_buckets_finish(&b, &graph));
  CHECK(f.stale_starts == 0, "%d buckets started before their gradients "
        "were final", f.stale_starts);
  CHECK(f.started == b.bucket_count && f.waited == b.bucket_count,
        "each of %d buckets reduced once (started %d, waited %d)",
        b.bucket_count, f.started, f.waited);
  int64_t wrong = 0;
  for (int64_t i = 0; i < c->count; ++i)
    if (c->grads[i] != 2.0f * final_grads[i]) wrong++;
  CHECK(wrong == 0, "%lld gradients are not the doubled final ones",
        (long long)wrong);
  CHECK(graph.on_progress == NULL, "finish stops listening");
  *overlapped = b.started_in_backward;
  *buckets = b.bucket_count;
  segc_grad_buckets_destroy(&b);
  return 0;
}

int main(void) {
  CHECK_OK(segc_arena_init(&activations, "activations", 64 << 20,
                           SEGC_DEVICE_CPU));
  CHECK_OK(segc_arena_init(&scratch, "scratch", 64 << 20, SEGC_DEVICE_CPU));
  CHECK_OK(segc_backend_context_init(&context, SEGC_DEVICE_CPU, &scratch));
  CHECK_OK(segc_graph_init(&graph, &context, &activations, 1 << 20));
  chain c;
  CHECK_OK(chain_init(&c));
  double *in = random_values(segc_shape_numel(in_shape(&kChain[0])), 42, false);
  float *input = to_ndhwc(in_shape(&kChain[0]), in, SEGC_F32);

  // The plain backward's gradients.
  segc_value *loss;
  CHECK_OK(forward_loss(&c, input, &loss));
  CHECK_OK(segc_graph_backward(&graph, loss));
  float *final_grads = malloc(sizeof(float) * (size_t)c.count);
  memcpy(final_grads, c.grads, sizeof(float) * (size_t)c.count);

  // Small buckets: several, and the last layers' start during backward.
  int overlapped = 0, buckets = 0;
  if (run(&c, input, final_grads, 256 * sizeof(float), true, &overlapped,
          &buckets))
    return test_finish_failed();
  CHECK(buckets >= 4, "several buckets (%d)", buckets);
  CHECK(overlapped >= 1 && overlapped < buckets,
        "%d of %d buckets started while backward ran", overlapped, buckets);
  // One bucket holds everything: it can only start at the end.
  if (run(&c, input, final_grads, 0, true, &overlapped, &buckets))
    return test_finish_failed();
  CHECK(buckets == 1 && overlapped == 0, "one bucket, started at the end");
  // Undeclared gradients: every bucket waits for the end.
  if (run(&c, input, final_grads, 256 * sizeof(float), false, &overlapped,
          &buckets))
    return test_finish_failed();
  CHECK(overlapped == 0, "undeclared gradients start nothing early (%d)",
        overlapped);

  // The bundle's 18,799,401 gradients: 25 MiB buckets from the end, and the
  // first 1 MiB (final only when backward ends) alone.
  const int64_t bundle = 18799401;
  float *arena = malloc(sizeof(float) * (size_t)bundle);  // never touched
  segc_grad_buckets big;
  CHECK_OK(segc_grad_buckets_init(&big, arena, bundle, 0,
                                  (segc_allreduce_ops){fake_start, fake_wait,
                                                       NULL, NULL}));
  const segc_grad_bucket *last = &big.buckets[big.bucket_count - 1];
  int64_t covered = 0;
  for (int i = 0; i < big.bucket_count; ++i) covered += big.buckets[i].count;
  CHECK(big.bucket_count == 4 && last->data == arena &&
            last->count == (1 << 20) / 4 &&
            big.buckets[0].count == (25 << 20) / 4 &&
            big.buckets[0].data + big.buckets[0].count == arena + bundle &&
            covered == bundle,
        "bundle buckets: %d, the last %lld floats at the start, %lld covered",
        big.bucket_count, (long long)last->count, (long long)covered);
  segc_grad_buckets_destroy(&big);
  free(arena);
  free(final_grads);
  free(in);
  free(input);
  chain_destroy(&c);
  segc_graph_destroy(&graph);
  segc_backend_context_destroy(&context);
  segc_arena_destroy(&activations);
  segc_arena_destroy(&scratch);
  return test_finish("grad_buckets");
}
