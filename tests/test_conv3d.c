// conv3d against the naive double-precision convolution of
// conv3d_test_support.h: forward values over kernels, strides, paddings,
// batch, odd sizes and one input channel (f32 and bf16), gradients of x,
// weight and bias by central finite differences, and error messages.
// Tolerances are stated in conv3d_test_support.h.
#include "conv3d_test_support.h"

static int check_forward(const conv_case *c, segc_dtype dtype,
                         segc_dtype out_dtype, uint64_t seed) {
  const bool bf16 = dtype == SEGC_BF16;
  const segc_shape is = in_shape(c), os = out_shape(c);
  double *x = random_values(segc_shape_numel(is), seed, bf16);
  double *w = random_values(weight_count(c), seed + 1, bf16);
  double *b = random_values(c->cout, seed + 2, false);
  double *ref = malloc(sizeof(double) * (size_t)segc_shape_numel(os));
  double *got = malloc(sizeof(double) * (size_t)segc_shape_numel(os));
  reference_conv(c, x, w, c->bias ? b : NULL, ref);
  void *xs = to_ndhwc(is, x, dtype);
  fixture f;
  CHECK_OK(fixture_init(&f, c, w, b));
  graph.training = false;
  segc_value *xv, *yv;
  CHECK_OK(wrap_input(xs, is, dtype, false, &xv));
  CHECK_OK(segc_conv3d_forward(&graph, &f.layer, xv, out_dtype, &yv));
  CHECK(yv->data.dtype == out_dtype && segc_shape_equal(yv->data.shape, os),
        "output dtype/shape");
  from_ndhwc(&yv->data, got);
  const double e = worst_error(got, ref, segc_shape_numel(os),
                               out_dtype == SEGC_BF16);
  if (getenv("CONV3D_VERBOSE")) printf("forward case %lld->%lld k%d s%d %s->%s: %.3g of tolerance\n", (long long)c->cin, (long long)c->cout, c->k, c->s, segc_dtype_name(dtype), segc_dtype_name(out_dtype), e);
  CHECK(e <= 1.0,
        "forward n%lld %lld->%lld %lldx%lldx%lld k%d s%d p%d bias%d %s->%s: "
        "error %.3g of the tolerance", (long long)c->n, (long long)c->cin,
        (long long)c->cout, (long long)c->d, (long long)c->h, (long long)c->w,
        c->k, c->s, c->p, c->bias, segc_dtype_name(dtype),
        segc_dtype_name(out_dtype), e);
  segc_value_release(&graph, yv);
  segc_graph_reset(&graph);
  CHECK(scratch.live_bytes == 0, "scratch freed (%zu live)", scratch.live_bytes);
  fixture_destroy(&f);
  free(x), free(w), free(b), free(ref), free(got), free(xs);
  return 0;
}

// Finite differences of loss = sum(r * conv(x, w) + b) over v = [x, w, b].
typedef struct {
  const conv_case *c;
  double *v;        // [x (NCDHW), w (OIDHW), b]
  const double *r;  // NCDHW
  double *y;
} fd_context;

static double fd_loss(const double *unused, void *context) {
  (void)unused;  // gradcheck perturbs a block of ctx->v in place
  fd_context *f = context;
  const conv_case *c = f->c;
  const int64_t nx = segc_shape_numel(in_shape(c));
  reference_conv(c, f->v, f->v + nx, c->bias ? f->v + nx + weight_count(c) : NULL,
                 f->y);
  double loss = 0.0;
  for (int64_t i = 0; i < segc_shape_numel(out_shape(c)); ++i)
    loss += f->r[i] * f->y[i];
  return loss;
}

static int check_gradients(const conv_case *c, segc_dtype dtype,
                           segc_dtype out_dtype, uint64_t seed) {
  const bool bf16 = dtype == SEGC_BF16;
  const segc_shape is = in_shape(c), os = out_shape(c);
  const int64_t nx = segc_shape_numel(is), nw = weight_count(c);
  const int64_t ny = segc_shape_numel(os), nv = nx + nw + c->cout;
  // bf16: x, w and r are bf16 values so that the reference sees exactly
  // what oneDNN sees (y's gradient r is bf16 when y is).
  double *v = malloc(sizeof(double) * (size_t)nv);
  double *x = random_values(nx, seed, bf16), *w = random_values(nw, seed + 1, bf16);
  double *b = random_values(c->cout, seed + 2, false);
  double *r = random_values(ny, seed + 3, bf16 || out_dtype == SEGC_BF16);
  memcpy(v, x, sizeof(double) * (size_t)nx);
  memcpy(v + nx, w, sizeof(double) * (size_t)nw);
  memcpy(v + nx + nw, b, sizeof(double) * (size_t)c->cout);
  void *xs = to_ndhwc(is, x, dtype);
  float *rs = to_ndhwc(os, r, SEGC_F32);
  fixture f;
  CHECK_OK(fixture_init(&f, c, w, b));
  graph.training = true;
  segc_value *xv, *yv, *loss;
  CHECK_OK(wrap_input(xs, is, dtype, true, &xv));
  CHECK_OK(segc_conv3d_forward(&graph, &f.layer, xv, out_dtype, &yv));
  const float *rp = rs;
  CHECK_OK(op_seed_losses(&graph, 1, &yv, &rp, &loss));
  segc_value_release(&graph, yv);  // the tape does not need y
  CHECK_OK(segc_graph_backward(&graph, loss));
  float *analytic = malloc(sizeof(float) * (size_t)nv);
  double *dx = malloc(sizeof(double) * (size_t)nx);
  from_ndhwc(&xv->grad, dx);
  for (int64_t i = 0; i < nx; ++i) analytic[i] = (float)dx[i];
  memcpy(analytic + nx, f.weight.grad.data, sizeof(float) * (size_t)nw);
  memcpy(analytic + nx + nw, f.bias.grad.data, sizeof(float) * (size_t)c->cout);
  fd_context context = {c, v, r, malloc(sizeof(double) * (size_t)ny)};
  // Linear in each block, so central differences are exact up to double
  // rounding. f32 gradients: 1e-5. bf16: dx is rounded to bf16 (2^-8).
  const struct { const char *name; int64_t offset, count; double rtol; } blocks[3] = {
      {"x", 0, nx, bf16 ? BF16_OUT_TOL : F32_TOL},
      {"weight", nx, nw, F32_TOL},
      {"bias", nx + nw, c->bias ? c->cout : 0, F32_TOL}};
  for (int k = 0; k < 3; ++k) {
    if (blocks[k].count == 0) continue;
    segc_gradcheck_report rep;
    const int ok = segc_gradcheck(fd_loss, &context, v + blocks[k].offset,
                                  blocks[k].count, analytic + blocks[k].offset,
                                  1e-2, blocks[k].rtol, &rep);
    if (getenv("CONV3D_VERBOSE")) printf("grad %s %s->%s: rel %.3g (rtol %.3g)\n", blocks[k].name, segc_dtype_name(dtype), segc_dtype_name(out_dtype), rep.max_rel_error, blocks[k].rtol);
    CHECK(ok,
          "grad %s (n%lld %lld->%lld k%d s%d p%d %s->%s): rel %.3g at %lld "
          "(analytic %.8g numeric %.8g)", blocks[k].name, (long long)c->n,
          (long long)c->cin, (long long)c->cout, c->k, c->s, c->p,
          segc_dtype_name(dtype), segc_dtype_name(out_dtype),
          rep.max_rel_error, (long long)rep.worst_index, rep.worst_analytic,
          rep.worst_numeric);
  }
  segc_value_release(&graph, loss);
  segc_graph_reset(&graph);
  CHECK(scratch.live_bytes == 0, "scratch freed (%zu live)", scratch.live_bytes);
  fixture_destroy(&f);
  free(v), free(x), free(w), free(b), free(r), free(xs), free(rs);
  free(analytic), free(dx), free(context.y);
  return 0;
}


static int check_errors(void) {
  const conv_case c = {1, 3, 4, 5, 5, 5, 3, 1, 0, false};
  double *w = random_values(weight_count(&c), 90, false);
  fixture f;
  CHECK_OK(fixture_init(&f, &c, w, NULL));
  float *data = calloc(4 * 5 * 5 * 5, sizeof(float));
  graph.training = false;
  segc_value *x, *y;
  const segc_shape good = in_shape(&c);
  CHECK_OK(wrap_input(data, segc_shape5(1, 2, 5, 5, 5), SEGC_F32, false, &x));
  CHECK_FAILS(segc_conv3d_forward(&graph, &f.layer, x, SEGC_F32, &y),
              SEGC_ERR_INVALID,
              "conv3d 3->4 k3 s1 p0 forward on 1x2x5x5x5: input has shape "
              "1x2x5x5x5, expected 1x3x5x5x5");
  CHECK_OK(wrap_input(data, segc_shape5(1, 3, 2, 5, 5), SEGC_F32, false, &x));
  CHECK_FAILS(segc_conv3d_forward(&graph, &f.layer, x, SEGC_F32, &y),
              SEGC_ERR_INVALID, "input size 2 on axis D is smaller than the kernel");
  CHECK_OK(wrap_input(data, good, SEGC_F16, false, &x));
  CHECK_FAILS(segc_conv3d_forward(&graph, &f.layer, x, SEGC_F32, &y),
              SEGC_ERR_UNSUPPORTED, "conv3d: no cpu kernel for f16");
  CHECK_OK(wrap_input(data, good, SEGC_F32, false, &x));
  CHECK_FAILS(segc_conv3d_forward(&graph, &f.layer, x, SEGC_I32, &y),
              SEGC_ERR_UNSUPPORTED, "output dtype i32");
  x->data.layout = SEGC_LAYOUT_NCDHW;
  CHECK_FAILS(segc_conv3d_forward(&graph, &f.layer, x, SEGC_F32, &y),
              SEGC_ERR_INVALID, "input must be NDHWC");
  x->data.layout = SEGC_LAYOUT_NDHWC;
  x->data.device = SEGC_DEVICE_CUDA;
#ifdef SEGC_HAVE_CUDA
  CHECK_FAILS(segc_conv3d_forward(&graph, &f.layer, x, SEGC_F32, &y),
              SEGC_ERR_INVALID, "input is on cuda, the layer on cpu");
#else
  CHECK_FAILS(segc_conv3d_forward(&graph, &f.layer, x, SEGC_F32, &y),
              SEGC_ERR_UNSUPPORTED, "conv3d: no cuda kernel for");
#endif
  x->data.device = SEGC_DEVICE_CPU;
  // Tensor-level passes check the gradients too.
  segc_tensor dx = x->data, dy = x->data;  // dy should be 1x4x3x3x3
  CHECK_FAILS(segc_conv3d_backward_data(&f.layer, &dy, &dx, false, &context),
              SEGC_ERR_INVALID,
              "backward-data on 1x3x5x5x5: output gradient has shape");
  CHECK_FAILS(segc_conv3d_backward_weights(&f.layer, &x->data, &dy, &context),
              SEGC_ERR_INVALID,
              "backward-weights on 1x3x5x5x5: output gradient has shape");
  segc_graph_reset(&graph);
  // Layer set-up.
  segc_conv3d bad;
  segc_conv3d_config config = {3, 4, 3, 1, 0, false};
  config.stride = 0;
  CHECK_FAILS(segc_conv3d_init(&bad, &config, &f.weight, NULL),
              SEGC_ERR_INVALID, "conv3d 3->4 k3 s0 p0: channels, kernel");
  config.stride = 1;
  config.in_channels = 5;
  CHECK_FAILS(segc_conv3d_init(&bad, &config, &f.weight, NULL),
              SEGC_ERR_INVALID,
              "conv3d 5->4 k3 s1 p0: weight 'conv.weight' has shape 4x3x3x3x3, "
              "expected 4x5x3x3x3");
  config.in_channels = 3;
  config.bias = true;
  CHECK_FAILS(segc_conv3d_init(&bad, &config, &f.weight, NULL),
              SEGC_ERR_INVALID, "no bias parameter");
  fixture_destroy(&f);
  free(w);
  free(data);
  return 0;
}

// On a CPU without oneDNN bf16 convolutions a bf16 request is refused with
// a message that says so and what to use (never oneDNN's "unimplemented").
static int check_bf16_refused(void) {
  const conv_case c = {1, 3, 4, 5, 5, 5, 3, 1, 1, false};
  double *w = random_values(weight_count(&c), 91, false);
  fixture f;
  CHECK_OK(fixture_init(&f, &c, w, NULL));
  float *data = calloc(3 * 5 * 5 * 5, sizeof(float));
  graph.training = false;
  segc_value *x, *y;
  CHECK_OK(wrap_input(data, in_shape(&c), SEGC_BF16, false, &x));
  CHECK_FAILS(segc_conv3d_forward(&graph, &f.layer, x, SEGC_F32, &y),
              SEGC_ERR_UNSUPPORTED,
              "bf16 compute is not available on this CPU");
  CHECK_FAILS(segc_dnnl_require_compute(SEGC_BF16), SEGC_ERR_UNSUPPORTED,
              "use f32");
  CHECK_OK(segc_dnnl_require_compute(SEGC_F32));
  segc_graph_reset(&graph);
  fixture_destroy(&f);
  free(w);
  free(data);
  return 0;
}

int main(void) {
  CHECK_OK(segc_arena_init(&activations, "activations", (size_t)256 << 20,
                           SEGC_DEVICE_CPU));
  CHECK_OK(segc_arena_init(&scratch, "scratch", (size_t)256 << 20,
                           SEGC_DEVICE_CPU));
  CHECK_OK(segc_backend_context_init(&context, SEGC_DEVICE_CPU, &scratch));
  CHECK_OK(segc_graph_init(&graph, &context, &activations, 1 << 20));

  // n, cin, cout, d, h, w, kernel, stride, padding, bias
  static const conv_case forward_cases[] = {
      {1, 3, 4, 5, 6, 7, 3, 1, 1, false},   {2, 3, 4, 5, 6, 7, 3, 1, 1, true},
      {1, 1, 8, 5, 6, 7, 3, 1, 1, false},   {2, 1, 32, 6, 5, 7, 3, 1, 1, false},
      {1, 5, 6, 5, 6, 7, 3, 2, 1, false},   {2, 4, 3, 6, 6, 6, 3, 2, 1, true},
      {1, 3, 5, 5, 6, 7, 3, 1, 0, true},    {1, 16, 32, 5, 6, 7, 3, 2, 0, false},
      {2, 8, 5, 5, 6, 7, 1, 1, 0, true},    {1, 32, 105, 3, 4, 5, 1, 1, 0, true},
      {1, 20, 12, 5, 6, 7, 1, 2, 0, false}, {1, 32, 32, 6, 5, 7, 3, 1, 1, false},
      {1, 64, 16, 4, 5, 3, 3, 1, 1, true},
  };
  static const segc_dtype dtypes[4][2] = {{SEGC_F32, SEGC_F32},
                                          {SEGC_BF16, SEGC_BF16},
                                          {SEGC_BF16, SEGC_F32},
                                          {SEGC_F32, SEGC_BF16}};
  const bool bf16 = test_bf16_available("conv3d");
  if (!bf16 && check_bf16_refused()) return 1;
  const int forward_count = (int)(sizeof forward_cases / sizeof forward_cases[0]);
  for (int i = 0; i < forward_count; ++i)
    for (int t = 0; t < (bf16 ? 4 : 1); ++t)
      if (check_forward(&forward_cases[i], dtypes[t][0], dtypes[t][1],
                        (uint64_t)(100 + 10 * i)))
        return 1;

  static const struct { conv_case c; int dtypes; } grad_cases[] = {
      {{2, 3, 5, 4, 5, 3, 3, 1, 1, true}, 0},
      {{2, 3, 5, 4, 5, 3, 3, 1, 1, true}, 1},
      {{1, 2, 3, 5, 4, 6, 3, 2, 1, false}, 0},
      {{1, 2, 3, 5, 4, 6, 3, 2, 1, false}, 2},
      {{2, 4, 3, 3, 2, 4, 1, 1, 0, true}, 0},
      {{2, 4, 3, 3, 2, 4, 1, 1, 0, true}, 1},
      {{1, 1, 4, 4, 4, 5, 3, 1, 0, false}, 0},
      {{1, 3, 2, 6, 5, 6, 3, 2, 0, true}, 0},
      {{1, 3, 2, 6, 5, 6, 3, 2, 0, true}, 3},
  };
  const int grad_count = (int)(sizeof grad_cases / sizeof grad_cases[0]);
  for (int i = 0; i < grad_count; ++i)
    if ((bf16 || grad_cases[i].dtypes == 0) &&
        check_gradients(&grad_cases[i].c, dtypes[grad_cases[i].dtypes][0],
                        dtypes[grad_cases[i].dtypes][1], (uint64_t)(500 + 10 * i)))
      return 1;

  if (check_errors()) return 1;

  segc_graph_destroy(&graph);
  segc_backend_context_destroy(&context);
  segc_arena_destroy(&activations);
  segc_arena_destroy(&scratch);
  return test_finish("conv3d");
}
