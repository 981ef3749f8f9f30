// The bundle's sliding-window settings, and MONAI's window placement and
// importance map (sliding_window.h): the arithmetic of
// monai/inferers/utils.py and monai/data/utils.py.
#include <math.h>
#include <string.h>

#include "infer/sliding_window.h"

segc_sw_config segc_sw_default(int64_t channels) {
  segc_sw_config c;
  memset(&c, 0, sizeof c);
  c.roi[0] = c.roi[1] = c.roi[2] = 96;
  c.overlap = 0.25;
  c.sw_batch_size = 1;
  c.sigma_scale = 0.125;
  c.channels = channels;
  c.reuse_constant = SEGC_SW_REUSE_DEFAULT;
  return c;
}

int segc_sw_axis_starts(int64_t size, int64_t roi, double overlap,
                        int64_t *starts, int max_starts) {
  // monai/inferers/utils.py _get_scan_interval and
  // monai/data/utils.py dense_patch_slices, on the padded size.
  int64_t interval = roi;
  if (roi != size) {
    interval = (int64_t)((double)roi * (1.0 - overlap));
    if (interval < 1) interval = 1;
  }
  const int64_t num = (size + interval - 1) / interval;
  int64_t count = 1;
  for (int64_t d = 0; d < num; ++d) {
    if (d * interval + roi >= size) {
      count = d + 1;
      break;
    }
  }
  if (count > max_starts) count = max_starts;
  for (int64_t i = 0; i < count; ++i) {
    int64_t start = i * interval;
    const int64_t overshoot = start + roi - size;
    if (overshoot > 0) start -= overshoot;
    starts[i] = start;
  }
  return (int)count;
}

void segc_sw_importance_map(const int64_t roi[3], segc_sw_blend blend,
                            double sigma_scale, float *map) {
  if (blend == SEGC_SW_CONSTANT) {
    const int64_t n = roi[0] * roi[1] * roi[2];
    for (int64_t i = 0; i < n; ++i) map[i] = 1.0f;
    return;
  }
  // compute_importance_map in monai/data/utils.py, in f32 as there: each
  // axis exp(x^2 / (-2 sigma^2)) with x from -(r-1)/2, the product taken
  // axis by axis, then clamped below at max(min, 1e-3).
  float *axis[3];
  float storage[3][1024];
  for (int a = 0; a < 3; ++a) {
    axis[a] = storage[a];
    const double sigma = (double)roi[a] * sigma_scale;
    const float denominator = (float)(-2.0 * sigma * sigma);
    for (int64_t i = 0; i < roi[a] && i < 1024; ++i) {
      const float x = (float)(-((double)roi[a] - 1.0) / 2.0 + (double)i);
      axis[a][i] = expf(x * x / denominator);
    }
  }
  float min_value = INFINITY;
  for (int64_t i = 0; i < roi[0]; ++i)
    for (int64_t j = 0; j < roi[1]; ++j)
      for (int64_t k = 0; k < roi[2]; ++k) {
        const float v = (axis[0][i] * axis[1][j]) * axis[2][k];
        map[(i * roi[1] + j) * roi[2] + k] = v;
        if (v < min_value) min_value = v;
      }
  const float floor_value = min_value > 1e-3f ? min_value : 1e-3f;
  const int64_t n = roi[0] * roi[1] * roi[2];
  for (int64_t i = 0; i < n; ++i)
    if (map[i] < floor_value) map[i] = floor_value;
}
