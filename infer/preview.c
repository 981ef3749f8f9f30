// Preview of a segmentation: see preview.h for the conventions. This file
// works out the geometry (which array axis is which, where to cut, how big)
// and draws the three panels; preview_legend.c draws the header and legend.
#include "infer/preview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/preview_internal.h"

void segc_preview_default_options(segc_preview_options *options) {
  options->window_level = 40.0;
  options->window_width = 400.0;
  options->overlay_alpha = 115;
  options->outlines = true;
  options->panel_size = 384;
  options->max_legend_entries = 32;
  options->title = NULL;
}

double preview_voxel(const segc_volume *v, int64_t offset) {
  switch (v->dtype) {
    case SEGC_F32: return ((const float *)v->data)[offset];
    case SEGC_BF16: return segc_bf16_to_f32(((const segc_bf16 *)v->data)[offset]);
    case SEGC_F16: return segc_f16_to_f32(((const segc_f16 *)v->data)[offset]);
    case SEGC_U8: return ((const uint8_t *)v->data)[offset];
    case SEGC_I16: return ((const int16_t *)v->data)[offset];
    case SEGC_I32: return ((const int32_t *)v->data)[offset];
    default: return 0.0;
  }
}

// World axis w takes array axis axis[w]: of the six pairings, the one whose
// affine columns point most along the world axes (sum of |cosines|).
static segc_status find_axes(const segc_volume *grid, int axis[3],
                             int toward_plus[3]) {
  static const int pairings[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                     {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  double length[3];
  segc_volume_spacing(grid, length);
  for (int a = 0; a < 3; ++a)
    if (!(length[a] > 0.0) || !isfinite(length[a]))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "preview: affine column %d has length %g (need a "
                       "positive voxel spacing)", a, length[a]);
  double best = -1.0;
  for (int p = 0; p < 6; ++p) {
    double score = 0.0;
    for (int w = 0; w < 3; ++w)
      score += fabs(grid->affine[w][pairings[p][w]]) / length[pairings[p][w]];
    if (score > best) {
      best = score;
      for (int w = 0; w < 3; ++w) axis[w] = pairings[p][w];
    }
  }
  for (int w = 0; w < 3; ++w) toward_plus[w] = grid->affine[w][axis[w]] >= 0.0;
  return SEGC_OK;
}

// Counts voxels per class and the centroid of label > 0 (array indices).
static segc_status scan_labels(const segc_volume *labels, int classes,
                               int64_t *counts, double centroid[3]) {
  double sum[3] = {0, 0, 0};
  int64_t foreground = 0;
  const int64_t *d = labels->dim;
  for (int64_t i = 0; i < d[0]; ++i)
    for (int64_t j = 0; j < d[1]; ++j)
      for (int64_t k = 0; k < d[2]; ++k) {
        const double value = preview_voxel(labels, (i * d[1] + j) * d[2] + k);
        const int label = (int)value;
        if (!(value >= 0.0 && value < classes) || (double)label != value)
          return SEGC_FAIL(SEGC_ERR_INVALID,
                           "preview: label value %g at voxel (%lld,%lld,%lld) "
                           "is not an integer in 0..%d", value, (long long)i,
                           (long long)j, (long long)k, classes - 1);
        counts[label]++;
        if (label > 0) {
          foreground++;
          sum[0] += (double)i, sum[1] += (double)j, sum[2] += (double)k;
        }
      }
  for (int a = 0; a < 3; ++a)
    centroid[a] = foreground ? sum[a] / (double)foreground : -1.0;
  return SEGC_OK;
}

// Centroid of the body (CT above -500 HU); -1 when there is none.
static void body_centroid(const segc_volume *ct, double centroid[3]) {
  double sum[3] = {0, 0, 0};
  int64_t count = 0;
  const int64_t *d = ct->dim;
  for (int64_t i = 0; i < d[0]; ++i)
    for (int64_t j = 0; j < d[1]; ++j)
      for (int64_t k = 0; k < d[2]; ++k)
        if (preview_voxel(ct, (i * d[1] + j) * d[2] + k) > -500.0) {
          count++;
          sum[0] += (double)i, sum[1] += (double)j, sum[2] += (double)k;
        }
  for (int a = 0; a < 3; ++a) centroid[a] = count ? sum[a] / (double)count : -1.0;
}

static segc_status check_inputs(const segc_volume *ct,
                                const segc_volume *labels, int classes) {
  if (!ct && !labels)
    return SEGC_FAIL(SEGC_ERR_INVALID, "preview: neither a CT nor labels given");
  const segc_volume *volumes[2] = {ct, labels};
  for (int v = 0; v < 2; ++v)
    if (volumes[v] && (!volumes[v]->data || volumes[v]->dtype < 0 ||
                       volumes[v]->dtype >= SEGC_DTYPE_COUNT))
      return SEGC_FAIL(SEGC_ERR_INVALID, "preview: the %s volume is empty",
                       v ? "label" : "CT");
  if (labels && (classes < 1 || classes > 100000))
    return SEGC_FAIL(SEGC_ERR_INVALID, "preview: %d classes (need 1..100000)",
                     classes);
  if (labels && labels->dtype != SEGC_F32 && labels->dtype != SEGC_U8 &&
      labels->dtype != SEGC_I16 && labels->dtype != SEGC_I32)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "preview: labels of dtype %s",
                     segc_dtype_name(labels->dtype));
  if (!ct || !labels) return SEGC_OK;
  for (int a = 0; a < 3; ++a)
    if (ct->dim[a] != labels->dim[a])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "preview: CT is %lldx%lldx%lld but labels are "
                       "%lldx%lldx%lld", (long long)ct->dim[0],
                       (long long)ct->dim[1], (long long)ct->dim[2],
                       (long long)labels->dim[0], (long long)labels->dim[1],
                       (long long)labels->dim[2]);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c)
      if (!(fabs(ct->affine[r][c] - labels->affine[r][c]) <= 1e-3))
        return SEGC_FAIL(SEGC_ERR_INVALID,
                         "preview: CT and label affines differ at [%d][%d] "
                         "(%g vs %g)", r, c, ct->affine[r][c],
                         labels->affine[r][c]);
  return SEGC_OK;
}

// Sets up the geometry: axes, slices, scale and panel sizes.
static segc_status plan_geometry(preview_plan *plan, const double centroid[3]) {
  const segc_volume *grid = plan->grid;
  SEGC_TRY(find_axes(grid, plan->layout.array_axis, plan->layout.toward_plus));
  segc_volume_spacing(grid, plan->spacing);
  double extent[3], largest = 0.0;
  for (int w = 0; w < 3; ++w) {
    const int a = plan->layout.array_axis[w];
    extent[w] = (double)grid->dim[a] * plan->spacing[a];
    if (extent[w] > largest) largest = extent[w];
  }
  plan->layout.mm_per_pixel = largest / plan->options.panel_size;
  for (int w = 0; w < 3; ++w) {
    const long pixels = lround(extent[w] / plan->layout.mm_per_pixel);
    plan->pixels[w] = pixels < 1 ? 1 : (int)pixels;
  }
  for (int p = 0; p < 3; ++p) {
    // Rounded as a distance from the + end (R, A, S), so that mirrored
    // volumes (RAS, LPS) pick the same slice when the centroid is a tie.
    const int w = kPanelFixed[p], a = plan->layout.array_axis[w];
    const int64_t n = grid->dim[a];
    const double centre = centroid[a] >= 0.0 ? centroid[a] : 0.5 * (double)(n - 1);
    const bool plus = plan->layout.toward_plus[w];
    int64_t m = llround(plus ? (double)(n - 1) - centre : centre);
    m = m < 0 ? 0 : m >= n ? n - 1 : m;
    plan->layout.slice_index[p] = plus ? n - 1 - m : m;
    plan->layout.panel_w[p] = plan->pixels[kPanelAcross[p]];
    plan->layout.panel_h[p] = plan->pixels[kPanelDown[p]];
  }
  return SEGC_OK;
}

// Array index shown at pixel `pixel` along world axis w: pixels run from the
// + end of w (R, A, S) to the - end, one mm_per_pixel each.
int64_t preview_index_at(const preview_plan *plan, int w, int pixel) {
  const int a = plan->layout.array_axis[w];
  const int64_t n = plan->grid->dim[a];
  int64_t m = (int64_t)floor((pixel + 0.5) * plan->layout.mm_per_pixel /
                             plan->spacing[a]);
  if (m < 0) m = 0;
  if (m > n - 1) m = n - 1;
  return plan->layout.toward_plus[w] ? n - 1 - m : m;
}

// The pixel (along world axis w) at the centre of array index `index`.
int preview_pixel_of(const preview_plan *plan, int w, int64_t index) {
  const int a = plan->layout.array_axis[w];
  const int64_t n = plan->grid->dim[a];
  const int64_t m = plan->layout.toward_plus[w] ? n - 1 - index : index;
  return (int)floor(((double)m + 0.5) * plan->spacing[a] /
                    plan->layout.mm_per_pixel);
}

static uint8_t window_grey(const segc_preview_options *o, double hu) {
  if (!isfinite(hu)) return 0;  // NaN or Inf voxels show black
  const double t = (hu - (o->window_level - 0.5 * o->window_width)) /
                   o->window_width;
  return (uint8_t)lround(255.0 * (t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t));
}

// Draws panel p: CT grey, label fill, label outlines.
static segc_status draw_panel(const preview_plan *plan, int p,
                              segc_canvas *canvas) {
  const segc_preview_layout *L = &plan->layout;
  const int w = L->panel_w[p], h = L->panel_h[p];
  const int x0 = L->panel_x[p], y0 = L->panel_y[p];
  int *labels = malloc((size_t)w * h * sizeof *labels);
  if (!labels)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "preview: no memory for a %dx%d panel",
                     w, h);
  const int64_t *dim = plan->grid->dim;
  // Nothing to see through without a CT: labels then show nearly opaque.
  const int fill_alpha = plan->ct || plan->options.overlay_alpha > 200
                             ? plan->options.overlay_alpha : 200;
  int64_t index[3];
  index[L->array_axis[kPanelFixed[p]]] = L->slice_index[p];
  for (int v = 0; v < h; ++v) {
    index[L->array_axis[kPanelDown[p]]] = preview_index_at(plan, kPanelDown[p], v);
    for (int u = 0; u < w; ++u) {
      index[L->array_axis[kPanelAcross[p]]] =
          preview_index_at(plan, kPanelAcross[p], u);
      const int64_t offset = (index[0] * dim[1] + index[1]) * dim[2] + index[2];
      // Without a CT the volume shows as dark grey, apart from the page.
      const uint8_t grey =
          plan->ct ? window_grey(&plan->options, preview_voxel(plan->ct, offset))
                   : 40;
      segc_canvas_fill_rect(canvas, x0 + u, y0 + v, 1, 1,
                            segc_rgb_make(grey, grey, grey), 255);
      const int label =
          plan->labels ? (int)preview_voxel(plan->labels, offset) : 0;
      labels[v * w + u] = label;
      if (label > 0)
        segc_canvas_blend(canvas, x0 + u, y0 + v,
                          segc_preview_class_color(label), fill_alpha);
    }
  }
  // Outlines: a labelled pixel whose 4-neighbour (inside the panel) differs.
  for (int v = 0; plan->options.outlines && v < h; ++v)
    for (int u = 0; u < w; ++u) {
      const int label = labels[v * w + u];
      if (label == 0) continue;
      const bool edge = (u > 0 && labels[v * w + u - 1] != label) ||
                        (u + 1 < w && labels[v * w + u + 1] != label) ||
                        (v > 0 && labels[(v - 1) * w + u] != label) ||
                        (v + 1 < h && labels[(v + 1) * w + u] != label);
      if (edge)
        segc_canvas_blend(canvas, x0 + u, y0 + v, segc_preview_class_color(label),
                          200);
    }
  free(labels);
  return SEGC_OK;
}

segc_status segc_preview_render(segc_canvas *canvas, const segc_volume *ct,
                                const segc_volume *labels,
                                const char *const *names, int classes,
                                const segc_preview_options *options,
                                segc_preview_layout *layout) {
  memset(canvas, 0, sizeof *canvas);
  SEGC_TRY(check_inputs(ct, labels, classes));
  preview_plan plan;
  memset(&plan, 0, sizeof plan);
  if (options) plan.options = *options;
  else segc_preview_default_options(&plan.options);
  const segc_preview_options *o = &plan.options;
  if (!(o->window_width > 0.0) || !isfinite(o->window_level) ||
      !isfinite(o->window_width) || o->panel_size < 16 ||
      o->panel_size > 4096 || o->overlay_alpha < 0 || o->overlay_alpha > 255 ||
      o->max_legend_entries < 0)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "preview: bad options (window %g/%g, panel %d px, alpha "
                     "%d, legend %d)", o->window_level, o->window_width,
                     o->panel_size, o->overlay_alpha, o->max_legend_entries);
  plan.ct = ct;
  plan.labels = labels;
  plan.grid = ct ? ct : labels;
  plan.names = names;
  plan.classes = labels ? classes : 0;
  double centroid[3] = {-1, -1, -1};
  if (labels) {
    plan.counts = calloc((size_t)classes, sizeof *plan.counts);
    if (!plan.counts)
      return SEGC_FAIL(SEGC_ERR_NOMEM, "preview: no memory for %d counts",
                       classes);
    segc_status status = scan_labels(labels, classes, plan.counts, centroid);
    if (status != SEGC_OK) {
      free(plan.counts);
      return status;
    }
  }
  plan.centre_from = centroid[0] >= 0.0 ? "labelled voxels" : NULL;
  if (!plan.centre_from && ct) {
    body_centroid(ct, centroid);
    plan.centre_from = centroid[0] >= 0.0 ? "body (CT > -500 HU)" : NULL;
  }
  if (!plan.centre_from) plan.centre_from = "middle of the volume";
  segc_status status = plan_geometry(&plan, centroid);
  if (status == SEGC_OK) status = preview_layout_and_decorate(&plan, canvas);
  for (int p = 0; p < 3 && status == SEGC_OK; ++p)
    status = draw_panel(&plan, p, canvas);
  if (status == SEGC_OK) preview_draw_panel_marks(&plan, canvas);
  free(plan.counts);
  if (status != SEGC_OK) {
    segc_canvas_free(canvas);
    return status;
  }
  if (layout) *layout = plan.layout;
  return SEGC_OK;
}

segc_status segc_preview_write(const char *path, const segc_volume *ct,
                               const segc_volume *labels,
                               const char *const *names, int classes,
                               const segc_preview_options *options) {
  segc_canvas canvas;
  SEGC_TRY(segc_preview_render(&canvas, ct, labels, names, classes, options,
                               NULL));
  const segc_status status = segc_canvas_write_png(&canvas, path);
  segc_canvas_free(&canvas);
  return status;
}
