#include "core/dtype_auto.h"

#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnnl_context.h"
#include "core/parallel.h"

bool segc_dtype_auto_worth_timing(const segc_dtype_probe *probe) {
  return probe->bf16_convolutions && strncmp(probe->bf16_impl, "ref", 3) != 0;
}

static void choose(segc_dtype_choice *out, segc_dtype dtype, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

static void choose(segc_dtype_choice *out, segc_dtype dtype, const char *fmt,
                   ...) {
  out->dtype = dtype;
  int used = snprintf(out->reason, sizeof out->reason, "auto: %s (",
                      segc_dtype_name(dtype));
  va_list args;
  va_start(args, fmt);
  vsnprintf(out->reason + used, sizeof out->reason - (size_t)used, fmt, args);
  va_end(args);
  size_t length = strlen(out->reason);
  if (length + 1 < sizeof out->reason) {
    out->reason[length] = ')';
    out->reason[length + 1] = '\0';
  }
}

void segc_dtype_auto_decide(const segc_dtype_probe *probe,
                            segc_dtype_choice *out) {
  memset(out, 0, sizeof *out);
  if (!probe->bf16_convolutions) {
    choose(out, SEGC_F32, "this CPU has no bf16 convolutions");
    return;
  }
  if (!segc_dtype_auto_worth_timing(probe)) {
    choose(out, SEGC_F32, "oneDNN has only its reference bf16 convolution "
           "here: %s", probe->bf16_impl);
    return;
  }
  const double f32 = probe->f32_seconds, bf16 = probe->bf16_seconds;
  if (!(f32 > 0.0 && bf16 > 0.0 && isfinite(f32) && isfinite(bf16))) {
    choose(out, SEGC_F32, "the probe convolutions could not be timed");
    return;
  }
  const double speedup = f32 / bf16;
  if (speedup >= SEGC_DTYPE_AUTO_MIN_SPEEDUP)
    choose(out, SEGC_BF16, "bf16 conv %.2fx faster than f32 here, %s",
           speedup, probe->bf16_impl);
  else if (speedup >= 1.0)
    choose(out, SEGC_F32, "bf16 conv only %.2fx faster than f32 here, "
           "below %.1fx; %s", speedup, SEGC_DTYPE_AUTO_MIN_SPEEDUP,
           probe->bf16_impl);
  else
    choose(out, SEGC_F32, "bf16 conv slower than f32 here, %.2fx its speed; "
           "%s", speedup, probe->bf16_impl);
}

// The probe's convolution in one dtype: 32->32 channels, 3x3x3, padding 1,
// on 1x32x32x32x32 NDHWC, weights in the layout oneDNN prefers (as the
// network's layers do).
typedef struct {
  dnnl_primitive_desc_t desc;
  dnnl_primitive_t primitive;
  dnnl_memory_t memory[3];  // src, weights, dst
} probe_conv;

static void probe_conv_destroy(probe_conv *c) {
  for (int i = 0; i < 3; ++i)
    if (c->memory[i]) dnnl_memory_destroy(c->memory[i]);
  if (c->primitive) dnnl_primitive_destroy(c->primitive);
  if (c->desc) dnnl_primitive_desc_destroy(c->desc);
  memset(c, 0, sizeof *c);
}

// Fills a buffer of `dtype` elements with 0.75 (any layout: every element
// the same), so the timing sees ordinary finite values.
static segc_status fill_memory(dnnl_memory_t memory, dnnl_data_type_t dtype) {
  const dnnl_memory_desc_t *md;
  void *data = NULL;
  SEGC_DNNL_CHECK(dnnl_memory_get_memory_desc(memory, &md));
  SEGC_DNNL_CHECK(dnnl_memory_get_data_handle(memory, &data));
  const size_t bytes = dnnl_memory_desc_get_size(md);
  if (dtype == dnnl_bf16) {
    const uint16_t value = segc_f32_to_bf16(0.75f);
    for (size_t i = 0; i < bytes / sizeof value; ++i)
      memcpy((char *)data + i * sizeof value, &value, sizeof value);
  } else {
    const float value = 0.75f;
    for (size_t i = 0; i < bytes / sizeof value; ++i)
      memcpy((char *)data + i * sizeof value, &value, sizeof value);
  }
  return SEGC_OK;
}

// Builds the convolution; *made false (and SEGC_OK) when oneDNN has none
// for this dtype here.
static segc_status probe_conv_create(probe_conv *c, dnnl_engine_t engine,
                                     dnnl_data_type_t dtype, bool *made) {
  memset(c, 0, sizeof *c);
  *made = false;
  const dnnl_dims_t src_dims = {1, 32, 32, 32, 32};
  const dnnl_dims_t weight_dims = {32, 32, 3, 3, 3};
  const dnnl_dims_t strides = {1, 1, 1}, padding = {1, 1, 1};
  dnnl_memory_desc_t src, weights, dst;
  dnnl_convolution_desc_t conv;
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(&src, 5, src_dims, dtype, dnnl_ndhwc));
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(&dst, 5, src_dims, dtype, dnnl_ndhwc));
  SEGC_DNNL_CHECK(dnnl_memory_desc_init_by_tag(&weights, 5, weight_dims, dtype,
                                               dnnl_format_tag_any));
  SEGC_DNNL_CHECK(dnnl_convolution_forward_desc_init(
      &conv, dnnl_forward_inference, dnnl_convolution_direct, &src, &weights,
      NULL, &dst, strides, padding, padding));
  const dnnl_status_t found =
      dnnl_primitive_desc_create(&c->desc, &conv, NULL, engine, NULL);
  if (found == dnnl_unimplemented) return SEGC_OK;
  SEGC_DNNL_CHECK(found);
  SEGC_DNNL_CHECK(dnnl_primitive_create(&c->primitive, c->desc));
  const dnnl_memory_desc_t *chosen =
      dnnl_primitive_desc_query_md(c->desc, dnnl_query_weights_md, 0);
  SEGC_DNNL_CHECK(dnnl_memory_create(&c->memory[0], &src, engine, DNNL_MEMORY_ALLOCATE));
  SEGC_DNNL_CHECK(dnnl_memory_create(&c->memory[1], chosen, engine, DNNL_MEMORY_ALLOCATE));
  SEGC_DNNL_CHECK(dnnl_memory_create(&c->memory[2], &dst, engine, DNNL_MEMORY_ALLOCATE));
  SEGC_TRY(fill_memory(c->memory[0], dtype));
  SEGC_TRY(fill_memory(c->memory[1], dtype));
  *made = true;
  return SEGC_OK;
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

enum { kTimedRuns = 5 };

// The median of kTimedRuns runs after one warm-up run (which builds
// oneDNN's kernels and faults the pages in).
static segc_status probe_conv_time(probe_conv *c, dnnl_stream_t stream,
                                   double *median) {
  const dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, c->memory[0]},
                                   {DNNL_ARG_WEIGHTS, c->memory[1]},
                                   {DNNL_ARG_DST, c->memory[2]}};
  double seconds[kTimedRuns];
  for (int run = -1; run < kTimedRuns; ++run) {
    const double start = segc_now();
    SEGC_DNNL_CHECK(dnnl_primitive_execute(c->primitive, stream, 3, args));
    SEGC_DNNL_CHECK(dnnl_stream_wait(stream));
    if (run >= 0) seconds[run] = segc_now() - start;
  }
  qsort(seconds, kTimedRuns, sizeof seconds[0], compare_doubles);
  *median = seconds[kTimedRuns / 2];
  return SEGC_OK;
}

static segc_status probe_with(dnnl_engine_t engine, dnnl_stream_t stream,
                              segc_dtype_probe *out) {
  probe_conv bf16, f32;
  bool made = false;
  segc_status status = probe_conv_create(&bf16, engine, dnnl_bf16, &made);
  if (status == SEGC_OK && made) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(bf16.desc, dnnl_query_impl_info_str, 0,
                                  &impl) == dnnl_success && impl)
      snprintf(out->bf16_impl, sizeof out->bf16_impl, "%s", impl);
    out->bf16_convolutions = true;
  }
  if (status == SEGC_OK && segc_dtype_auto_worth_timing(out)) {
    status = probe_conv_create(&f32, engine, dnnl_f32, &made);
    if (status == SEGC_OK && !made)
      status = SEGC_FAIL(SEGC_ERR_BACKEND, "oneDNN has no f32 convolution");
    if (status == SEGC_OK) status = probe_conv_time(&f32, stream, &out->f32_seconds);
    if (status == SEGC_OK) status = probe_conv_time(&bf16, stream, &out->bf16_seconds);
    probe_conv_destroy(&f32);
  }
  probe_conv_destroy(&bf16);
  return status;
}

segc_status segc_dtype_auto_probe(segc_dtype_probe *out) {
  memset(out, 0, sizeof *out);
  // Without bf16 convolutions (AVX2 CPUs) nothing is built or timed.
  if (!segc_dnnl_has_bf16()) return SEGC_OK;
  dnnl_engine_t engine = NULL;
  dnnl_stream_t stream = NULL;
  SEGC_DNNL_CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
  const dnnl_status_t made =
      dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
  segc_status status =
      made == dnnl_success
          ? probe_with(engine, stream, out)
          : SEGC_FAIL(SEGC_ERR_BACKEND, "oneDNN stream: %s",
                      segc_dnnl_status_name(made));
  if (stream) dnnl_stream_destroy(stream);
  dnnl_engine_destroy(engine);
  return status;
}

segc_status segc_dtype_auto_choose(const char *override,
                                   segc_dtype_choice *out) {
  memset(out, 0, sizeof *out);
  if (override && *override) {
    const int dtype = segc_dtype_parse(override);
    if (dtype != SEGC_F32 && dtype != SEGC_BF16)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "SEGC_DTYPE_AUTO=%.40s: expected f32 or bf16 (or unset "
                       "it to let --dtype auto measure)", override);
    if (dtype == SEGC_BF16 && segc_dnnl_require_compute(SEGC_BF16) != SEGC_OK)
      return segc_fail_context(SEGC_ERR_UNSUPPORTED, "SEGC_DTYPE_AUTO=bf16");
    choose(out, (segc_dtype)dtype, "SEGC_DTYPE_AUTO=%s", override);
    return SEGC_OK;
  }
  segc_dtype_probe probe;
  if (segc_dtype_auto_probe(&probe) != SEGC_OK) {
    choose(out, SEGC_F32, "the bf16 probe failed: %.100s", segc_error_message());
    segc_clear_error();
    return SEGC_OK;
  }
  segc_dtype_auto_decide(&probe, out);
  return SEGC_OK;
}

static pthread_once_t decided_once = PTHREAD_ONCE_INIT;
static segc_status decided_status;
static segc_dtype_choice decided;
static char decided_error[512];

static void decide_once(void) {
  decided_status = segc_dtype_auto_choose(getenv("SEGC_DTYPE_AUTO"), &decided);
  if (decided_status != SEGC_OK)
    snprintf(decided_error, sizeof decided_error, "%s", segc_error_message());
}

segc_status segc_dtype_auto(segc_dtype_choice *out) {
  if (pthread_once(&decided_once, decide_once) != 0)
    return SEGC_FAIL(SEGC_ERR_INTERNAL, "--dtype auto: pthread_once failed");
  if (decided_status != SEGC_OK)
    return segc_fail(decided_status, "%s", decided_error);
  *out = decided;
  return SEGC_OK;
}
