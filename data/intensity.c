#include "data/intensity.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"

static segc_status require_f32(const segc_volume *image, const char *what) {
  if (!image->data)
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: volume has no data", what);
  if (image->dtype != SEGC_F32)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED,
                     "%s: needs a float32 volume, got %s", what,
                     segc_dtype_name(image->dtype));
  return SEGC_OK;
}

// Per-chunk partial results, combined in chunk order by the caller.
typedef struct {
  double sum;
  int64_t count;
} chunk_sum;

segc_status segc_normalize_nonzero(segc_volume *image,
                                   segc_normalize_stats *stats) {
  SEGC_TRY(require_f32(image, "normalize_intensity"));
  float *v = image->data;
  const int64_t n = segc_volume_numel(image);
  const int64_t chunks = segc_chunk_count(n, SEGC_REDUCE_CHUNK);
  chunk_sum *part = malloc(sizeof(chunk_sum) * (size_t)chunks);
  if (!part)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "normalize_intensity: no memory");
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = c * SEGC_REDUCE_CHUNK + SEGC_REDUCE_CHUNK < n
                            ? c * SEGC_REDUCE_CHUNK + SEGC_REDUCE_CHUNK
                            : n;
    double s = 0.0;
    int64_t count = 0;
    for (int64_t i = c * SEGC_REDUCE_CHUNK; i < end; ++i)
      if (v[i] != 0.0f) {
        s += v[i];
        ++count;
      }
    part[c].sum = s;
    part[c].count = count;
  }
  double total = 0.0;
  int64_t count = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    total += part[c].sum;
    count += part[c].count;
  }
  if (count == 0) {  // MONAI returns the image unchanged
    free(part);
    if (stats) *stats = (segc_normalize_stats){0, 0.0f, 1.0f};
    return SEGC_OK;
  }
  const double mean = total / (double)count;
  // Second pass around the mean: the population variance without the
  // cancellation of sum(v^2) - n mean^2.
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = c * SEGC_REDUCE_CHUNK + SEGC_REDUCE_CHUNK < n
                            ? c * SEGC_REDUCE_CHUNK + SEGC_REDUCE_CHUNK
                            : n;
    double s = 0.0;
    for (int64_t i = c * SEGC_REDUCE_CHUNK; i < end; ++i)
      if (v[i] != 0.0f) {
        const double d = (double)v[i] - mean;
        s += d * d;
      }
    part[c].sum = s;
  }
  double squares = 0.0;
  for (int64_t c = 0; c < chunks; ++c) squares += part[c].sum;
  free(part);
  // MONAI holds mean and std as float32 values and divides by 1 if std == 0.
  const float mean_f = (float)mean;
  float std_f = (float)sqrt(squares / (double)count);
  if (std_f == 0.0f) std_f = 1.0f;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    if (v[i] != 0.0f) v[i] = (v[i] - mean_f) / std_f;
  if (stats) *stats = (segc_normalize_stats){count, mean_f, std_f};
  return SEGC_OK;
}

segc_status segc_scale_intensity(segc_volume *image, double minv, double maxv,
                                 float input_range[2]) {
  SEGC_TRY(require_f32(image, "scale_intensity"));
  if (!isfinite(minv) || !isfinite(maxv))
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "scale_intensity: target range %g..%g is not finite",
                     minv, maxv);
  float *v = image->data;
  const int64_t n = segc_volume_numel(image);
  float lo = INFINITY, hi = -INFINITY;
#pragma omp parallel for schedule(static) reduction(min : lo) reduction(max : hi)
  for (int64_t i = 0; i < n; ++i) {
    lo = v[i] < lo ? v[i] : lo;
    hi = v[i] > hi ? v[i] : hi;
  }
  if (input_range) {
    input_range[0] = lo;
    input_range[1] = hi;
  }
  const float minv_f = (float)minv;
  if (lo == hi) {  // rescale_array: arr * minv
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) v[i] = v[i] * minv_f;
    return SEGC_OK;
  }
  const float range = hi - lo;
  const float width = (float)(maxv - minv);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) v[i] = ((v[i] - lo) / range) * width + minv_f;
  return SEGC_OK;
}

int segc_gaussian_kernel(double sigma, float *taps, int capacity) {
  // MONAI holds sigma as a float32 parameter and builds the kernel in
  // float32; erf itself is evaluated in double here.
  const float s = fabsf((float)sigma);
  const double spread = (double)s * 4.0;
  const int tail = (int)((spread > 0.5 ? spread : 0.5) + 0.5);
  if (2 * tail + 1 > capacity) return 0;
  const float t = (1.0f / s) * 0.70710678f;  // torch's rdiv: reciprocal * x
  for (int i = -tail; i <= tail; ++i) {
    const float x = (float)i;
    const float upper = (float)erf((double)(t * (x + 0.5f)));
    const float lower = (float)erf((double)(t * (x - 0.5f)));
    const float tap = 0.5f * (upper - lower);
    taps[i + tail] = tap > 0.0f ? tap : 0.0f;
  }
  return 2 * tail + 1;
}

enum { max_gaussian_taps = 257, conv_chunk = 2048 };

// One pass along an axis: out = sum_t w[t] * in shifted by t - tail, zero
// outside. The volume is seen as (outer, n, inner) with the axis in the
// middle. Each output value is summed by one thread in tap order.
static void convolve_axis(const float *in, float *out, int64_t outer, int64_t n,
                          int64_t inner, const float *w, int taps, int threads) {
  const int tail = taps / 2;
  if (inner == 1) {  // the contiguous axis: 1D convolutions along rows
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t o = 0; o < outer; ++o) {
      const float *line = in + o * n;
      float *dst = out + o * n;
      for (int64_t i = 0; i < n; ++i) {
        double s = 0.0;
        if (i >= tail && i + tail < n) {
          for (int t = 0; t < taps; ++t) s += (double)w[t] * (double)line[i + t - tail];
        } else {
          for (int t = 0; t < taps; ++t) {
            const int64_t src = i + t - tail;
            if (src >= 0 && src < n) s += (double)w[t] * (double)line[src];
          }
        }
        dst[i] = (float)s;
      }
    }
    return;
  }
  // Outer axes: whole rows of `inner` values at once, in chunks that keep
  // the double accumulators in cache.
  const int64_t chunks = (inner + conv_chunk - 1) / conv_chunk;
#pragma omp parallel num_threads(threads)
  {
    double acc[conv_chunk];
#pragma omp for schedule(static)
    for (int64_t job = 0; job < outer * n * chunks; ++job) {
      const int64_t row = job / chunks, o = row / n, i = row % n;
      const int64_t x0 = (job % chunks) * conv_chunk;
      const int64_t len = inner - x0 < conv_chunk ? inner - x0 : conv_chunk;
      for (int64_t x = 0; x < len; ++x) acc[x] = 0.0;
      for (int t = 0; t < taps; ++t) {
        const int64_t src = i + t - tail;
        if (src < 0 || src >= n) continue;
        const float *line = in + (o * n + src) * inner + x0;
        const double wt = w[t];
        for (int64_t x = 0; x < len; ++x) acc[x] += wt * (double)line[x];
      }
      float *dst = out + row * inner + x0;
      for (int64_t x = 0; x < len; ++x) dst[x] = (float)acc[x];
    }
  }
}

segc_status segc_gaussian_smooth(segc_volume *image, const double sigma[3]) {
  SEGC_TRY(require_f32(image, "gaussian_smooth"));
  float kernel[3][max_gaussian_taps];
  int taps[3];
  for (int a = 0; a < 3; ++a) {
    if (!(sigma[a] > 0.0) || !isfinite(sigma[a]))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "gaussian_smooth: sigma[%d] = %g must be > 0", a,
                       sigma[a]);
    taps[a] = segc_gaussian_kernel(sigma[a], kernel[a], max_gaussian_taps);
    if (taps[a] == 0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "gaussian_smooth: sigma[%d] = %g needs more than %d taps",
                       a, sigma[a], max_gaussian_taps);
  }
  const int64_t n = segc_volume_numel(image);
  const int threads = omp_get_max_threads();
  float *buffer = malloc(sizeof(float) * (size_t)n);
  if (!buffer)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "gaussian_smooth: no memory for %lld voxels",
                     (long long)n);
  const int64_t *d = image->dim;
  float *v = image->data;
  // Along i, then j, then k, as MONAI's recursion applies them.
  convolve_axis(v, buffer, 1, d[0], d[1] * d[2], kernel[0], taps[0], threads);
  convolve_axis(buffer, v, d[0], d[1], d[2], kernel[1], taps[1], threads);
  memcpy(buffer, v, sizeof(float) * (size_t)n);
  convolve_axis(buffer, v, d[0] * d[1], d[2], 1, kernel[2], taps[2], threads);
  free(buffer);
  return SEGC_OK;
}
