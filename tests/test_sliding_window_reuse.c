// Constant windows of the sliding window (infer/sliding_window_reuse.h): a
// window whose input is one bit pattern throughout is computed once and its
// logits blended again for every later window of that value.
//
// 1. A fake network whose logits depend on the whole window (a hash of all
//    its input bits) and on the position inside it: blending a kept window
//    where the network would have seen different input changes the labels
//    of that window's voxels. On volumes with constant blocks, padding
//    (replicate and zeros), near-constant windows (one voxel one ulp away),
//    -0.0 against the zero padding's +0.0, three values for two kept ones,
//    and batches of 1, 3 and 7: the labels with reuse are those without,
//    the network sees exactly the windows that are not reused, and the
//    reused count is the one a plain re-statement here predicts. On the GPU
//    too when there is one (the scratch arena and the logits on the device).
// 2. SegResNet (the bundle's network, random weights, 32^3 windows): a
//    constant window's logits are bitwise the same computed alone or in a
//    batch of 3 at any position (so reuse is exact with sw_batch_size > 1),
//    in f32 and, where the CPU has oneDNN bf16, in bf16; sliding-window
//    labels with reuse are those without.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/cuda_runtime.h"
#include "core/device_memory.h"
#include "infer/segresnet_predictor.h"
#include "infer/sliding_window.h"
#include "util/test_util.h"

enum { K = 5, kMaxWindows = 4096 };

static uint32_t bits_of(float x) {
  uint32_t b;
  memcpy(&b, &x, sizeof b);
  return b;
}

// ---------------------------------------------------------------------------
// The fake network.

typedef struct {
  segc_device device;      // where windows come from and logits go
  int64_t roi;
  float *host_in, *host_out;
  void *logits;            // on `device`
  int windows_seen;        // samples over all calls
  uint32_t seen_first[kMaxWindows];  // first input voxel's bits per sample
  bool seen_constant[kMaxWindows];   // whether the sample was constant
} fake_net;

static segc_status fake_predict(void *context, const segc_tensor *windows,
                                segc_tensor *logits) {
  fake_net *net = context;
  const segc_shape s = windows->shape;
  const int64_t voxels = s.d * s.h * s.w;
  SEGC_TRY(segc_device_copy(net->host_in, SEGC_DEVICE_CPU, windows->data,
                            windows->device,
                            sizeof(float) * (size_t)(s.n * voxels)));
  for (int64_t n = 0; n < s.n; ++n) {
    const float *in = net->host_in + n * voxels;
    uint32_t hash = 2166136261u;  // FNV-1a over every input bit pattern
    bool constant = true;
    for (int64_t v = 0; v < voxels; ++v) {
      const uint32_t b = bits_of(in[v]);
      constant = constant && b == bits_of(in[0]);
      for (int byte = 0; byte < 4; ++byte)
        hash = (hash ^ ((b >> (8 * byte)) & 0xffu)) * 16777619u;
    }
    if (net->windows_seen < kMaxWindows) {
      net->seen_first[net->windows_seen] = bits_of(in[0]);
      net->seen_constant[net->windows_seen] = constant;
    }
    net->windows_seen++;
    const float phase = (float)(hash % 1000u) * 0.00628f;
    for (int64_t v = 0; v < voxels; ++v)
      for (int k = 0; k < K; ++k)
        net->host_out[(n * voxels + v) * K + k] =
            sinf(0.37f * (float)k + 0.01f * in[v] + phase) +
            0.05f * (float)k * cosf(0.3f * (float)v);
  }
  SEGC_TRY(segc_device_copy(net->logits, net->device, net->host_out,
                            SEGC_DEVICE_CPU,
                            sizeof(float) * (size_t)(s.n * voxels * K)));
  *logits = segc_tensor_view(net->logits, segc_shape5(s.n, K, s.d, s.h, s.w),
                             SEGC_F32, SEGC_LAYOUT_NDHWC, net->device);
  return SEGC_OK;
}

// ---------------------------------------------------------------------------
// What the reuse should do, re-stated plainly: cut each window as MONAI
// pads it, see whether all its bits are equal, count the windows of each
// value, and keep the `capacity` values with the most windows (2 or more).

typedef struct {
  int windows, constant;       // windows placed; of those, constant
  int reused;                  // windows that should not reach the network
  uint32_t kept_bits[8];
  int kept;
} expectation;

static float padded_voxel(const segc_volume *image, segc_sw_padding padding,
                          const int64_t before[3], int64_t p0, int64_t p1,
                          int64_t p2) {
  const int64_t p[3] = {p0, p1, p2};
  int64_t q[3];
  for (int a = 0; a < 3; ++a) {
    q[a] = p[a] - before[a];
    if (q[a] < 0 || q[a] >= image->dim[a]) {
      if (padding == SEGC_SW_PAD_ZERO) return 0.0f;
      q[a] = q[a] < 0 ? 0 : image->dim[a] - 1;
    }
  }
  return ((const float *)image->data)[(q[0] * image->dim[1] + q[1]) *
                                          image->dim[2] + q[2]];
}

static expectation expect_reuse(const segc_volume *image, int64_t roi,
                                segc_sw_padding padding, int capacity) {
  expectation e;
  memset(&e, 0, sizeof e);
  int64_t starts[3][256], before[3];
  int count[3];
  for (int a = 0; a < 3; ++a) {
    const int64_t padded = image->dim[a] > roi ? image->dim[a] : roi;
    before[a] = (padded - image->dim[a]) / 2;
    count[a] = segc_sw_axis_starts(padded, roi, 0.25, starts[a], 256);
  }
  uint32_t values[64];
  int windows_of[64], distinct = 0;
  for (int x = 0; x < count[0]; ++x)
    for (int y = 0; y < count[1]; ++y)
      for (int z = 0; z < count[2]; ++z) {
        e.windows++;
        const uint32_t first = bits_of(padded_voxel(
            image, padding, before, starts[0][x], starts[1][y], starts[2][z]));
        bool constant = true;
        for (int64_t a = 0; a < roi && constant; ++a)
          for (int64_t b = 0; b < roi && constant; ++b)
            for (int64_t c = 0; c < roi && constant; ++c)
              constant = bits_of(padded_voxel(image, padding, before,
                                              starts[0][x] + a,
                                              starts[1][y] + b,
                                              starts[2][z] + c)) == first;
        if (!constant) continue;
        e.constant++;
        int v = 0;
        while (v < distinct && values[v] != first) ++v;
        if (v == distinct) {
          values[distinct] = first;
          windows_of[distinct++] = 0;
        }
        windows_of[v]++;
      }
  for (int kept = 0; kept < capacity; ++kept) {
    int best = -1;  // most windows; ties: seen first (listed first)
    for (int v = 0; v < distinct; ++v)
      if (windows_of[v] >= 2 && (best < 0 || windows_of[v] > windows_of[best]))
        best = v;
    if (best < 0) break;
    e.reused += windows_of[best] - 1;
    e.kept_bits[e.kept++] = values[best];
    windows_of[best] = 0;
  }
  return e;
}

// ---------------------------------------------------------------------------

typedef struct {
  segc_volume labels;
  segc_sw_stats stats;
  fake_net net;
} fake_run;

static segc_status run_fake(const segc_volume *image, int64_t roi, int batch,
                            segc_sw_padding padding, int reuse,
                            segc_device device, fake_run *out) {
  memset(out, 0, sizeof *out);
  segc_sw_config cfg = segc_sw_default(K);
  cfg.roi[0] = cfg.roi[1] = cfg.roi[2] = roi;
  cfg.sw_batch_size = batch;
  cfg.padding = padding;
  cfg.blend = padding == SEGC_SW_PAD_ZERO ? SEGC_SW_CONSTANT : SEGC_SW_GAUSSIAN;
  cfg.reuse_constant = reuse;
  size_t bytes;
  SEGC_TRY(segc_sw_scratch_bytes(&cfg, image->dim, &bytes));
  const size_t window_floats = (size_t)(batch * roi * roi * roi);
  const size_t logit_bytes = sizeof(float) * window_floats * K;
  segc_arena scratch, logits;
  SEGC_TRY(segc_arena_init(&scratch, "sw scratch", bytes, device));
  segc_status status =
      segc_arena_init(&logits, "fake logits", logit_bytes, device);
  if (status != SEGC_OK) {
    segc_arena_destroy(&scratch);
    return status;
  }
  fake_net *net = &out->net;
  net->device = device;
  net->roi = roi;
  net->host_in = malloc(sizeof(float) * window_floats);
  net->host_out = malloc(logit_bytes);
  status = net->host_in && net->host_out
               ? segc_arena_alloc(&logits, logit_bytes, &net->logits)
               : SEGC_FAIL(SEGC_ERR_NOMEM, "test: out of memory");
  if (status == SEGC_OK)
    status = segc_sliding_window_argmax(&cfg, fake_predict, net, image,
                                        &scratch, &out->labels, &out->stats);
  if (status == SEGC_OK && scratch.live_bytes != 0)
    status = SEGC_FAIL(SEGC_ERR_INTERNAL, "test: %zu scratch bytes not returned",
                       scratch.live_bytes);
  if (status == SEGC_OK && scratch.peak_bytes > bytes)
    status = SEGC_FAIL(SEGC_ERR_INTERNAL, "test: scratch estimate %zu < used %zu",
                       bytes, scratch.peak_bytes);
  free(net->host_in);
  free(net->host_out);
  net->host_in = net->host_out = NULL;
  segc_arena_destroy(&logits);
  segc_arena_destroy(&scratch);
  return status;
}

// Reuse on (capacity `capacity`) against off, on one device.
static int check_fake_case(const char *what, const segc_volume *image,
                           int64_t roi, int batch, segc_sw_padding padding,
                           int capacity, segc_device device,
                           int minimum_reused) {
  const expectation e = expect_reuse(image, roi, padding, capacity);
  fake_run off, on;
  CHECK_OK(run_fake(image, roi, batch, padding, 0, device, &off));
  CHECK_OK(run_fake(image, roi, batch, padding, capacity, device, &on));
  const int64_t n = image->dim[0] * image->dim[1] * image->dim[2];
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i)
    differ += ((uint8_t *)on.labels.data)[i] != ((uint8_t *)off.labels.data)[i];
  CHECK(differ == 0, "%s: %lld of %lld labels differ with reuse", what,
        (long long)differ, (long long)n);
  CHECK(off.stats.windows_reused == 0 && off.net.windows_seen == e.windows,
        "%s: without reuse all %d windows are computed (reused %d, seen %d)",
        what, e.windows, off.stats.windows_reused, off.net.windows_seen);
  CHECK(on.stats.windows == e.windows, "%s: %d windows, expected %d", what,
        on.stats.windows, e.windows);
  CHECK(on.stats.windows_reused == e.reused,
        "%s: %d windows reused, expected %d (%d constant)", what,
        on.stats.windows_reused, e.reused, e.constant);
  CHECK(on.stats.windows_reused >= minimum_reused,
        "%s: %d windows reused, the case was built for at least %d", what,
        on.stats.windows_reused, minimum_reused);
  CHECK(on.net.windows_seen == e.windows - e.reused,
        "%s: the network saw %d windows, expected %d", what,
        on.net.windows_seen, e.windows - e.reused);
  // Each kept value reached the network exactly once.
  for (int k = 0; k < e.kept; ++k) {
    int computed = 0;
    for (int w = 0; w < on.net.windows_seen && w < kMaxWindows; ++w)
      computed += on.net.seen_constant[w] && on.net.seen_first[w] == e.kept_bits[k];
    CHECK(computed == 1, "%s: constant 0x%08x computed %d times", what,
          (unsigned)e.kept_bits[k], computed);
  }
  const size_t window_bytes = sizeof(float) * (size_t)(roi * roi * roi * K);
  CHECK(e.kept == 0 ? on.stats.reuse_bytes == 0
                   : on.stats.reuse_bytes >= window_bytes &&
                         on.stats.reuse_bytes <= window_bytes * (size_t)e.kept,
        "%s: kept logits %zu bytes at peak for %d values", what,
        on.stats.reuse_bytes, e.kept);
  printf("%s (%s, batch %d): windows: %d computed, %d constant reused "
         "(%d constant, %d values kept)\n",
         what, segc_device_name(device), batch,
         on.stats.windows - on.stats.windows_reused, on.stats.windows_reused,
         e.constant, e.kept);
  segc_volume_free(&on.labels);
  segc_volume_free(&off.labels);
  return 0;
}

static void fill_box(segc_volume *v, const int64_t lo[3], const int64_t hi[3],
                     float value) {
  float *x = v->data;
  for (int64_t i = lo[0]; i < hi[0]; ++i)
    for (int64_t j = lo[1]; j < hi[1]; ++j)
      for (int64_t k = lo[2]; k < hi[2]; ++k)
        x[(i * v->dim[1] + j) * v->dim[2] + k] = value;
}

static int check_fake(segc_device device) {
  // Axis 2 is smaller than the window (padded); constant blocks of -1 (air
  // clipped to the scale's minimum), 0.5 and 0.25; one voxel of the air
  // block one ulp away, so the windows around it are near-constant.
  const int64_t roi = 8;
  const int64_t dim[3] = {48, 40, 6};
  segc_volume image;
  CHECK_OK(segc_volume_alloc(&image, SEGC_F32, dim));
  test_fill_uniform(image.data, dim[0] * dim[1] * dim[2], -1.0f, 1.0f, 17);
  const int64_t air_lo[3] = {20, 0, 0}, air_hi[3] = {48, 40, 6};
  fill_box(&image, air_lo, air_hi, -1.0f);
  const int64_t half_lo[3] = {0, 0, 0}, half_hi[3] = {14, 20, 6};
  fill_box(&image, half_lo, half_hi, 0.5f);
  const int64_t quarter_lo[3] = {0, 24, 0}, quarter_hi[3] = {10, 40, 6};
  fill_box(&image, quarter_lo, quarter_hi, 0.25f);
  float *x = image.data;
  x[(40 * dim[1] + 35) * dim[2] + 3] = nextafterf(-1.0f, 0.0f);

  const expectation all = expect_reuse(&image, roi, SEGC_SW_PAD_REPLICATE, 4);
  CHECK(all.kept == 3, "three constant values with two or more windows (%d)",
        all.kept);
  check_fake_case("replicate, two kept", &image, roi, 1, SEGC_SW_PAD_REPLICATE,
                  2, device, 10);
  check_fake_case("replicate, four kept", &image, roi, 1,
                  SEGC_SW_PAD_REPLICATE, 4, device, 10);
  check_fake_case("replicate", &image, roi, 3, SEGC_SW_PAD_REPLICATE, 2,
                  device, 10);
  check_fake_case("replicate", &image, roi, 7, SEGC_SW_PAD_REPLICATE, 2,
                  device, 10);
  segc_volume_free(&image);

  // One value everywhere but one voxel, one ulp off: the windows holding
  // that voxel are near-constant and must go through the network. Axis 2
  // is padded (replicated): the odd voxel at its border is read more than
  // once. Positions: a corner of the image (the first voxel of the first
  // window), the last voxel, the first window's last voxel, the middle.
  const int64_t near_dim[3] = {30, 22, 5};
  const int64_t odd_at[4][3] = {{0, 0, 0}, {29, 21, 4}, {7, 7, 4}, {13, 9, 2}};
  CHECK_OK(segc_volume_alloc(&image, SEGC_F32, near_dim));
  const int64_t whole_lo[3] = {0, 0, 0};
  fill_box(&image, whole_lo, near_dim, -1.0f);
  const expectation uniform =
      expect_reuse(&image, roi, SEGC_SW_PAD_REPLICATE, 2);
  CHECK(uniform.reused == uniform.windows - 1,
        "a constant volume: all windows but one reused (%d of %d)",
        uniform.reused, uniform.windows);
  check_fake_case("constant volume", &image, roi, 2, SEGC_SW_PAD_REPLICATE, 2,
                  device, uniform.windows - 1);
  for (int p = 0; p < 4; ++p) {
    x = image.data;
    const int64_t at =
        (odd_at[p][0] * near_dim[1] + odd_at[p][1]) * near_dim[2] + odd_at[p][2];
    x[at] = nextafterf(-1.0f, 0.0f);
    const expectation near =
        expect_reuse(&image, roi, SEGC_SW_PAD_REPLICATE, 2);
    CHECK(near.constant < uniform.constant && near.reused > 0,
          "the odd voxel %d makes %d windows near-constant", p,
          uniform.constant - near.constant);
    char what[64];
    snprintf(what, sizeof what, "one voxel one ulp off (%lld,%lld,%lld)",
             (long long)odd_at[p][0], (long long)odd_at[p][1],
             (long long)odd_at[p][2]);
    check_fake_case(what, &image, roi, 1 + p % 2, SEGC_SW_PAD_REPLICATE, 2,
                    device, 1);
    x[at] = -1.0f;
  }
  segc_volume_free(&image);

  // Zeros padding axis 2: a +0.0 block at the padded border is constant
  // (the padding is +0.0 too); a -0.0 block is not (its bits differ from
  // the padding's), nor is a block of 0.5 there.
  const int64_t zero_dim[3] = {40, 30, 6};
  CHECK_OK(segc_volume_alloc(&image, SEGC_F32, zero_dim));
  test_fill_uniform(image.data, zero_dim[0] * zero_dim[1] * zero_dim[2], -1.0f,
                    1.0f, 18);
  const int64_t pos_lo[3] = {0, 0, 0}, pos_hi[3] = {20, 30, 6};
  fill_box(&image, pos_lo, pos_hi, 0.0f);
  const int64_t neg_lo[3] = {26, 0, 0}, neg_hi[3] = {40, 14, 6};
  fill_box(&image, neg_lo, neg_hi, -0.0f);
  const int64_t other_lo[3] = {26, 16, 0}, other_hi[3] = {40, 30, 6};
  fill_box(&image, other_lo, other_hi, 0.5f);
  check_fake_case("zeros padding", &image, roi, 2, SEGC_SW_PAD_ZERO, 2, device,
                  5);
  const expectation zeros = expect_reuse(&image, roi, SEGC_SW_PAD_ZERO, 4);
  CHECK(zeros.kept == 1 && zeros.kept_bits[0] == 0u,
        "with zeros padding only +0.0 windows are constant (%d values)",
        zeros.kept);
  segc_volume_free(&image);

  // Without padding, -0.0 and +0.0 blocks are two values, kept apart.
  const int64_t signed_dim[3] = {40, 30, 16};
  CHECK_OK(segc_volume_alloc(&image, SEGC_F32, signed_dim));
  test_fill_uniform(image.data, signed_dim[0] * signed_dim[1] * signed_dim[2],
                    -1.0f, 1.0f, 19);
  const int64_t plus_lo[3] = {0, 0, 0}, plus_hi[3] = {20, 30, 16};
  fill_box(&image, plus_lo, plus_hi, 0.0f);
  const int64_t minus_lo[3] = {22, 0, 0}, minus_hi[3] = {40, 30, 16};
  fill_box(&image, minus_lo, minus_hi, -0.0f);
  const expectation signs = expect_reuse(&image, roi, SEGC_SW_PAD_ZERO, 2);
  CHECK(signs.kept == 2, "+0.0 and -0.0 are two kept values (%d)", signs.kept);
  check_fake_case("+0.0 and -0.0", &image, roi, 3, SEGC_SW_PAD_ZERO, 2, device,
                  10);
  segc_volume_free(&image);
  return 0;
}

// ---------------------------------------------------------------------------
// SegResNet: the bundle's network (random weights) on 32^3 windows.

enum { kRoi = 32, kNetBatch = 3 };

// One call of the predictor on n windows; its logits (any dtype) copied
// into out.
static segc_status predict_copy(segc_segresnet_predictor *p, const float *in,
                                int n, unsigned char *out, size_t *out_bytes) {
  segc_tensor windows = segc_tensor_view(
      (void *)in, segc_shape5(n, 1, kRoi, kRoi, kRoi), SEGC_F32,
      SEGC_LAYOUT_NDHWC, SEGC_DEVICE_CPU);
  segc_tensor logits;
  SEGC_TRY(segc_segresnet_predict(p, &windows, &logits));
  *out_bytes = segc_tensor_bytes(&logits);
  memcpy(out, logits.data, *out_bytes);
  return SEGC_OK;
}

// A constant window's logits alone and in a batch of 3, at each position,
// beside two random windows: the same bits.
static int check_batch_independence(segc_segresnet *net, segc_dtype compute) {
  segc_segresnet_predictor p;
  CHECK_OK(segc_segresnet_predictor_init(
      &p, net, segc_shape5(kNetBatch, 1, kRoi, kRoi, kRoi), compute));
  const int64_t voxels = (int64_t)kRoi * kRoi * kRoi;
  const size_t most = sizeof(float) * (size_t)(voxels * net->config.out_channels);
  float *in = malloc(sizeof(float) * (size_t)(kNetBatch * voxels));
  unsigned char *alone = malloc(most);
  unsigned char *batch = malloc(most * kNetBatch);
  size_t one = 0, all = 0;
  for (int64_t v = 0; v < voxels; ++v) in[v] = -1.0f;
  CHECK_OK(predict_copy(&p, in, 1, alone, &one));
  for (int at = 0; at < kNetBatch; ++at) {
    for (int n = 0; n < kNetBatch; ++n) {
      if (n == at) {
        for (int64_t v = 0; v < voxels; ++v) in[n * voxels + v] = -1.0f;
      } else {
        test_fill_uniform(in + n * voxels, voxels, -1.0f, 1.0f,
                          (uint64_t)(40 + n));
      }
    }
    CHECK_OK(predict_copy(&p, in, kNetBatch, batch, &all));
    CHECK(all == one * kNetBatch &&
              memcmp(batch + (size_t)at * one, alone, one) == 0,
          "SegResNet (%s): a constant window's logits in a batch of %d at "
          "%d differ from the window alone",
          segc_dtype_name(compute), kNetBatch, at);
  }
  printf("SegResNet (%s, %d^3): a window's logits alone and in a batch of %d "
         "compared bitwise\n", segc_dtype_name(compute), kRoi, kNetBatch);
  free(in);
  free(alone);
  free(batch);
  segc_segresnet_predictor_destroy(&p);
  return 0;
}

static int check_segresnet(void) {
  segc_segresnet_config cfg = segc_segresnet_bundle_config();
  cfg.dropout_prob = 0.0f;
  segc_segresnet net;
  CHECK_OK(segc_segresnet_create(&net, &cfg, false, SEGC_DEVICE_CPU));
  CHECK_OK(segc_segresnet_init_weights(&net, 21));
  check_batch_independence(&net, SEGC_F32);
  if (test_bf16_available("sliding_window_reuse"))
    check_batch_independence(&net, SEGC_BF16);
  segc_segresnet_predictor p;
  CHECK_OK(segc_segresnet_predictor_init(
      &p, &net, segc_shape5(kNetBatch, 1, kRoi, kRoi, kRoi), SEGC_F32));
  const float constant = -1.0f;

  // Sliding-window labels with reuse are those without.
  const int64_t dim[3] = {60, 44, 20};
  segc_volume image;
  CHECK_OK(segc_volume_alloc(&image, SEGC_F32, dim));
  test_fill_uniform(image.data, dim[0] * dim[1] * dim[2], -1.0f, 1.0f, 23);
  const int64_t air_lo[3] = {24, 0, 0};
  fill_box(&image, air_lo, dim, constant);
  segc_volume labels[2];
  segc_sw_stats stats[2];
  for (int reuse = 0; reuse < 2; ++reuse) {
    segc_sw_config sw = segc_sw_default(cfg.out_channels);
    sw.roi[0] = sw.roi[1] = sw.roi[2] = kRoi;
    sw.sw_batch_size = kNetBatch;
    sw.reuse_constant = reuse ? SEGC_SW_REUSE_DEFAULT : 0;
    size_t bytes;
    CHECK_OK(segc_sw_scratch_bytes(&sw, dim, &bytes));
    segc_arena scratch;
    CHECK_OK(segc_arena_init(&scratch, "windows", bytes, SEGC_DEVICE_CPU));
    CHECK_OK(segc_sliding_window_argmax(&sw, segc_segresnet_predict, &p,
                                        &image, &scratch, &labels[reuse],
                                        &stats[reuse]));
    segc_arena_destroy(&scratch);
  }
  const int64_t n = dim[0] * dim[1] * dim[2];
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i)
    differ += ((uint8_t *)labels[0].data)[i] != ((uint8_t *)labels[1].data)[i];
  CHECK(differ == 0, "SegResNet: %lld of %lld labels differ with reuse",
        (long long)differ, (long long)n);
  CHECK(stats[0].windows_reused == 0 && stats[1].windows_reused > 0,
        "SegResNet: %d windows reused without, %d with", stats[0].windows_reused,
        stats[1].windows_reused);
  printf("SegResNet %d^3 windows, batch %d: windows: %d computed, %d constant "
         "reused; network %.2f s against %.2f s\n",
         kRoi, kNetBatch, stats[1].windows - stats[1].windows_reused,
         stats[1].windows_reused, stats[1].predict_seconds,
         stats[0].predict_seconds);
  segc_volume_free(&labels[0]);
  segc_volume_free(&labels[1]);
  segc_volume_free(&image);
  segc_segresnet_predictor_destroy(&p);
  segc_segresnet_destroy(&net);
  return 0;
}

// The fake network on the GPU too, where this build and machine have one.
static void check_fake_on_gpu(void) {
#ifdef SEGC_HAVE_CUDA
  int devices = 0;
  const char *reason = "";
  if (segc_cuda_device_count_reason(&devices, &reason) != SEGC_OK ||
      devices == 0) {
    printf("cuda part skipped: %s\n", reason ? reason : "no device");
    segc_clear_error();
    return;
  }
  check_fake(SEGC_DEVICE_CUDA);
#else
  printf("cuda part skipped: a build without CUDA\n");
#endif
}

int main(void) {
  check_fake(SEGC_DEVICE_CPU);
  check_fake_on_gpu();
  check_segresnet();
  return test_finish("sliding_window_reuse");
}
