// The preview of a synthetic body described in world coordinates, stored in
// three orientations (RAS, LPS, and permuted SLP: array axes z, -x, -y). The
// same world content must give the same panels pixel for pixel, and the
// structures must land where the radiological convention puts them:
//   class 1, a box on the patient's right (x > 0), mostly anterior and
//            superior: left half of the axial and coronal panels, above the
//            middle row in both;
//   class 2, a box on the patient's left: right half of axial and coronal;
//   class 3, a bar anterior and superior across all x: top-left quadrant of
//            the sagittal panel (anterior left, superior top).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/preview.h"
#include "util/test_util.h"

enum { kClasses = 4 };
static const char *const kNames[kClasses] = {"background", "right_box",
                                             "left_box", "front_top_bar"};
// World extent: x 40 voxels of 1.5 mm, y 50 of 1.0 mm, z 30 of 2.0 mm.
static const int64_t kWorldDim[3] = {40, 50, 30};
static const double kWorldSpacing[3] = {1.5, 1.0, 2.0};

typedef struct {
  const char *name;
  int world_of_axis[3];  // array axis a holds world axis world_of_axis[a]
  int sign_of_axis[3];   // +1: index grows toward R/A/S
} orientation;

static const orientation kOrientations[3] = {
    {"RAS", {0, 1, 2}, {1, 1, 1}},
    {"LPS", {0, 1, 2}, {-1, -1, 1}},
    {"SLP", {2, 0, 1}, {1, -1, -1}},
};

static bool inside(const double p[3], double x0, double x1, double y0,
                   double y1, double z0, double z1) {
  return p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1 && p[2] >= z0 &&
         p[2] <= z1;
}

static int label_at(const double p[3]) {
  if (inside(p, 4, 22, -4, 14, -4, 16)) return 1;
  if (inside(p, -22, -4, -12, 12, -10, 10)) return 2;
  if (inside(p, -40, 40, 15, 22, 18, 26)) return 3;
  return 0;
}

// CT and labels for one orientation; the grid is centred on world 0.
static segc_status make_volumes(const orientation *o, segc_volume *ct,
                                segc_volume *labels, bool with_labels) {
  int64_t dim[3];
  for (int a = 0; a < 3; ++a) dim[a] = kWorldDim[o->world_of_axis[a]];
  SEGC_TRY(segc_volume_alloc(ct, SEGC_I16, dim));
  SEGC_TRY(segc_volume_alloc(labels, SEGC_U8, dim));
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) ct->affine[r][c] = r == 3 && c == 3;
  for (int a = 0; a < 3; ++a) {
    const int w = o->world_of_axis[a];
    const double step = o->sign_of_axis[a] * kWorldSpacing[w];
    ct->affine[w][a] = step;
    ct->affine[w][3] = -step * (double)(dim[a] - 1) / 2.0;
  }
  memcpy(labels->affine, ct->affine, sizeof ct->affine);
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k) {
        double p[3];
        for (int w = 0; w < 3; ++w)
          p[w] = ct->affine[w][0] * i + ct->affine[w][1] * j +
                 ct->affine[w][2] * k + ct->affine[w][3];
        const int64_t offset = (i * dim[1] + j) * dim[2] + k;
        ((int16_t *)ct->data)[offset] = 0;  // soft tissue everywhere
        ((uint8_t *)labels->data)[offset] =
            with_labels ? (uint8_t)label_at(p) : 0;
      }
  return SEGC_OK;
}

typedef struct {
  int count, left, top;  // pixels of the class; in the left / top half
} class_spot;

// Finds pixels of class c in panel p: fill or outline colour over 0 HU.
static class_spot find_class(const segc_canvas *canvas,
                             const segc_preview_layout *L, int p, int c,
                             const segc_preview_options *o) {
  const double grey = 255.0 * (0.0 - (o->window_level - o->window_width / 2)) /
                      o->window_width;  // 102 for 40/400
  const segc_rgb color = segc_preview_class_color(c);
  segc_rgb fill, outline;
  const double a = o->overlay_alpha / 255.0, b = 200.0 / 255.0;
#define BLEND(dst, src, t) (uint8_t)lround((dst) * (1.0 - (t)) + (src) * (t))
  const uint8_t g = (uint8_t)lround(grey);
  fill = segc_rgb_make(BLEND(g, color.r, a), BLEND(g, color.g, a), BLEND(g, color.b, a));
  outline = segc_rgb_make(BLEND(fill.r, color.r, b), BLEND(fill.g, color.g, b),
                          BLEND(fill.b, color.b, b));
#undef BLEND
  class_spot s = {0, 0, 0};
  for (int v = 0; v < L->panel_h[p]; ++v)
    for (int u = 0; u < L->panel_w[p]; ++u) {
      const segc_rgb px = segc_canvas_get(canvas, L->panel_x[p] + u, L->panel_y[p] + v);
      const bool is_fill = px.r == fill.r && px.g == fill.g && px.b == fill.b;
      const bool is_outline = px.r == outline.r && px.g == outline.g && px.b == outline.b;
      if (!is_fill && !is_outline) continue;
      s.count++;
      s.left += 2 * u < L->panel_w[p];
      s.top += 2 * v < L->panel_h[p];
    }
  return s;
}

static bool panels_equal(const segc_canvas *a, const segc_preview_layout *la,
                         const segc_canvas *b, const segc_preview_layout *lb) {
  for (int p = 0; p < 3; ++p) {
    if (la->panel_w[p] != lb->panel_w[p] || la->panel_h[p] != lb->panel_h[p] ||
        la->panel_x[p] != lb->panel_x[p] || la->panel_y[p] != lb->panel_y[p])
      return false;
    for (int v = 0; v < la->panel_h[p]; ++v)
      if (memcmp(a->pixels + 3 * ((size_t)(la->panel_y[p] + v) * a->width + la->panel_x[p]),
                 b->pixels + 3 * ((size_t)(lb->panel_y[p] + v) * b->width + lb->panel_x[p]),
                 (size_t)la->panel_w[p] * 3))
        return false;
  }
  return true;
}

static int test_orientations(const char *dir) {
  segc_preview_options o;
  segc_preview_default_options(&o);
  segc_canvas canvases[3];
  segc_preview_layout layouts[3];
  for (int v = 0; v < 3; ++v) {
    const orientation *orient = &kOrientations[v];
    segc_volume ct, labels;
    CHECK_OK(make_volumes(orient, &ct, &labels, true));
    char title[64];
    snprintf(title, sizeof title, "synthetic body stored %s", orient->name);
    o.title = title;
    CHECK_OK(segc_preview_render(&canvases[v], &ct, &labels, kNames, kClasses,
                                 &o, &layouts[v]));
    char name[32];
    snprintf(name, sizeof name, "preview_%s.png", orient->name);
    CHECK_OK(segc_preview_write(test_path(dir, name), &ct, &labels, kNames,
                                kClasses, &o));
    printf("wrote %s\n", test_path(dir, name));
    const segc_preview_layout *L = &layouts[v];
    for (int w = 0; w < 3; ++w) {
      int a = 0;
      while (orient->world_of_axis[a] != w) a++;
      CHECK(L->array_axis[w] == a && L->toward_plus[w] == (orient->sign_of_axis[a] > 0),
            "%s: world axis %d found on array axis %d (%s), wanted %d", orient->name,
            w, L->array_axis[w], L->toward_plus[w] ? "+" : "-", a);
    }
    // Square pixels: the largest extent (x, 60 mm) spans panel_size pixels.
    const double mpp = 60.0 / o.panel_size;
    CHECK(fabs(L->mm_per_pixel - mpp) < 1e-12, "mm per pixel %g", L->mm_per_pixel);
    const int want_w[3] = {(int)lround(60 / mpp), (int)lround(60 / mpp), (int)lround(50 / mpp)};
    const int want_h[3] = {(int)lround(50 / mpp), (int)lround(60 / mpp), (int)lround(60 / mpp)};
    for (int p = 0; p < 3; ++p)
      CHECK(L->panel_w[p] == want_w[p] && L->panel_h[p] == want_h[p],
            "%s panel %d is %dx%d, wanted %dx%d", orient->name, p, L->panel_w[p],
            L->panel_h[p], want_w[p], want_h[p]);

    const class_spot right_ax = find_class(&canvases[v], L, SEGC_PREVIEW_AXIAL, 1, &o);
    const class_spot left_ax = find_class(&canvases[v], L, SEGC_PREVIEW_AXIAL, 2, &o);
    CHECK(right_ax.count > 1000 && right_ax.left == right_ax.count,
          "%s axial: class 1 (patient's right) has %d pixels, %d in the image's "
          "left half", orient->name, right_ax.count, right_ax.left);
    CHECK(right_ax.top > right_ax.count * 3 / 4,
          "%s axial: class 1 (mostly anterior) %d of %d pixels in the top half",
          orient->name, right_ax.top, right_ax.count);
    CHECK(left_ax.count > 1000 && left_ax.left == 0,
          "%s axial: class 2 (patient's left) %d pixels, %d in the left half",
          orient->name, left_ax.count, left_ax.left);
    const class_spot right_cor = find_class(&canvases[v], L, SEGC_PREVIEW_CORONAL, 1, &o);
    const class_spot left_cor = find_class(&canvases[v], L, SEGC_PREVIEW_CORONAL, 2, &o);
    CHECK(right_cor.count > 1000 && right_cor.left == right_cor.count &&
              right_cor.top > right_cor.count * 3 / 4,
          "%s coronal: class 1 %d pixels, %d left, %d top", orient->name,
          right_cor.count, right_cor.left, right_cor.top);
    CHECK(left_cor.count > 1000 && left_cor.left == 0,
          "%s coronal: class 2 %d pixels, %d left", orient->name, left_cor.count,
          left_cor.left);
    const class_spot bar = find_class(&canvases[v], L, SEGC_PREVIEW_SAGITTAL, 3, &o);
    CHECK(bar.count > 500 && bar.left == bar.count && bar.top == bar.count,
          "%s sagittal: class 3 (anterior, superior) %d pixels, %d left, %d top",
          orient->name, bar.count, bar.left, bar.top);

    // Legend: classes present sorted by voxel count, counted here.
    int64_t counts[kClasses] = {0};
    for (int64_t n = 0; n < segc_volume_numel(&labels); ++n)
      counts[((uint8_t *)labels.data)[n]]++;
    int order[3] = {1, 2, 3};
    for (int x = 0; x < 3; ++x)
      for (int y = x + 1; y < 3; ++y)
        if (counts[order[y]] > counts[order[x]]) {
          const int t = order[x];
          order[x] = order[y];
          order[y] = t;
        }
    CHECK(L->classes_present == 3 && L->legend_count == 3 &&
              L->legend_class[0] == order[0] && L->legend_class[1] == order[1] &&
              L->legend_class[2] == order[2],
          "%s legend %d entries: %d %d %d, wanted %d %d %d", orient->name,
          L->legend_count, L->legend_class[0], L->legend_class[1],
          L->legend_class[2], order[0], order[1], order[2]);
    segc_volume_free(&ct);
    segc_volume_free(&labels);
  }
  CHECK(panels_equal(&canvases[0], &layouts[0], &canvases[1], &layouts[1]),
        "RAS and LPS storage give different panels");
  CHECK(panels_equal(&canvases[0], &layouts[0], &canvases[2], &layouts[2]),
        "RAS and permuted SLP storage give different panels");
  for (int v = 0; v < 3; ++v) segc_canvas_free(&canvases[v]);
  return 0;
}

static int test_centre_and_errors(const char *dir) {
  // No labels: slices through the body's centre of mass (CT > -500 HU).
  segc_volume ct, labels;
  CHECK_OK(make_volumes(&kOrientations[0], &ct, &labels, false));
  int16_t *hu = ct.data;
  for (int64_t i = 0; i < 40; ++i)
    for (int64_t j = 0; j < 50; ++j)
      for (int64_t k = 0; k < 30; ++k) {
        const bool body = i >= 4 && i <= 14 && j >= 30 && j <= 40 && k >= 2 && k <= 8;
        hu[(i * 50 + j) * 30 + k] = body ? 40 : -1000;
      }
  segc_canvas canvas;
  segc_preview_layout L;
  CHECK_OK(segc_preview_render(&canvas, &ct, &labels, kNames, kClasses, NULL, &L));
  // Axial fixes z (array axis 2), coronal y (axis 1), sagittal x (axis 0).
  CHECK(L.slice_index[SEGC_PREVIEW_AXIAL] == 5 && L.slice_index[SEGC_PREVIEW_CORONAL] == 35 &&
            L.slice_index[SEGC_PREVIEW_SAGITTAL] == 9,
        "body centre slices %lld %lld %lld, wanted 5 35 9",
        (long long)L.slice_index[0], (long long)L.slice_index[1],
        (long long)L.slice_index[2]);
  CHECK(L.classes_present == 0 && L.legend_count == 0, "no classes present");
  segc_canvas_free(&canvas);

  // Legend cap, CT missing.
  segc_volume_free(&ct);
  segc_volume_free(&labels);
  CHECK_OK(make_volumes(&kOrientations[0], &ct, &labels, true));
  segc_preview_options o;
  segc_preview_default_options(&o);
  o.max_legend_entries = 2;
  CHECK_OK(segc_preview_render(&canvas, NULL, &labels, NULL, kClasses, &o, &L));
  CHECK(L.classes_present == 3 && L.legend_count == 2, "legend capped at 2 of %d",
        L.classes_present);
  segc_canvas_free(&canvas);

  // Bad input: clear messages.
  ((uint8_t *)labels.data)[7] = 9;
  CHECK_FAILS(segc_preview_render(&canvas, &ct, &labels, kNames, kClasses, NULL, NULL),
              SEGC_ERR_INVALID, "label value 9 at voxel (0,0,7) is not an integer in 0..3");
  ((uint8_t *)labels.data)[7] = 0;
  CHECK_FAILS(segc_preview_render(&canvas, NULL, NULL, kNames, kClasses, NULL, NULL),
              SEGC_ERR_INVALID, "neither a CT nor labels");
  labels.affine[0][3] += 1.0;
  CHECK_FAILS(segc_preview_render(&canvas, &ct, &labels, kNames, kClasses, NULL, NULL),
              SEGC_ERR_INVALID, "affines differ at [0][3]");
  labels.affine[0][3] -= 1.0;
  labels.dim[2] = 29;  // data is larger than this claims; only dims are compared
  CHECK_FAILS(segc_preview_render(&canvas, &ct, &labels, kNames, kClasses, NULL, NULL),
              SEGC_ERR_INVALID, "CT is 40x50x30 but labels are 40x50x29");
  labels.dim[2] = 30;
  CHECK_FAILS(segc_preview_write(test_path(dir, "no/such/folder/p.png"), &ct, &labels,
                                 kNames, kClasses, NULL),
              SEGC_ERR_IO, "folder does not exist");
  segc_volume_free(&ct);
  segc_volume_free(&labels);

  // Degenerate but legal: one voxel, f32 labels; a fractional label fails.
  const int64_t one[3] = {1, 1, 1};
  CHECK_OK(segc_volume_alloc(&labels, SEGC_F32, one));
  ((float *)labels.data)[0] = 2.0f;
  CHECK_OK(segc_preview_render(&canvas, NULL, &labels, kNames, kClasses, NULL, &L));
  CHECK(L.panel_w[0] >= 1 && L.panel_h[0] >= 1 && L.classes_present == 1 &&
            L.legend_class[0] == 2,
        "one-voxel volume: %dx%d panel, %d classes", L.panel_w[0], L.panel_h[0],
        L.classes_present);
  segc_canvas_free(&canvas);
  ((float *)labels.data)[0] = 1.5f;
  CHECK_FAILS(segc_preview_render(&canvas, NULL, &labels, kNames, kClasses, NULL, NULL),
              SEGC_ERR_INVALID, "label value 1.5");
  segc_volume_free(&labels);
  return 0;
}

// CIE L*a*b* of an sRGB colour (D65), for the palette's contrast.
static void to_lab(segc_rgb c, double lab[3]) {
  double v[3] = {c.r / 255.0, c.g / 255.0, c.b / 255.0};
  for (int i = 0; i < 3; ++i)
    v[i] = v[i] <= 0.04045 ? v[i] / 12.92 : pow((v[i] + 0.055) / 1.055, 2.4);
  const double xyz[3] = {
      (0.4124 * v[0] + 0.3576 * v[1] + 0.1805 * v[2]) / 0.95047,
      0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2],
      (0.0193 * v[0] + 0.1192 * v[1] + 0.9505 * v[2]) / 1.08883};
  double f[3];
  for (int i = 0; i < 3; ++i)
    f[i] = xyz[i] > 216.0 / 24389.0 ? cbrt(xyz[i]) : (24389.0 / 27.0 * xyz[i] + 16) / 116;
  lab[0] = 116 * f[1] - 16;
  lab[1] = 500 * (f[0] - f[1]);
  lab[2] = 200 * (f[1] - f[2]);
}

static int test_palette(void) {
  // Every pair of the 104 class colours at least Delta E 15 apart (a clearly
  // visible difference; the table's worst pair is about 17), and every
  // colour at least 25 from every grey (so no label passes for tissue).
  double worst_pair = 1e9, worst_grey = 1e9;
  for (int c = 1; c < SEGC_PREVIEW_PALETTE_SIZE; ++c) {
    double a[3], b[3];
    to_lab(segc_preview_class_color(c), a);
    for (int d = 1; d < c; ++d) {
      to_lab(segc_preview_class_color(d), b);
      const double e = sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) +
                            (a[2] - b[2]) * (a[2] - b[2]));
      if (e < worst_pair) worst_pair = e;
    }
    const double chroma = hypot(a[1], a[2]);
    if (chroma < worst_grey) worst_grey = chroma;
  }
  CHECK(worst_pair >= 15.0, "closest two class colours are Delta E %.1f apart", worst_pair);
  CHECK(worst_grey >= 25.0, "a class colour has chroma %.1f only", worst_grey);
  const segc_rgb c1 = segc_preview_class_color(1), c105 = segc_preview_class_color(105);
  CHECK(c1.r == c105.r && c1.g == c105.g && c1.b == c105.b, "indices past 104 wrap to 1");
  return 0;
}

int main(void) {
  const char *dir = test_temp_dir("preview");
  if (test_orientations(dir) || test_centre_and_errors(dir) || test_palette())
    return 1;  // a CHECK_OK stopped a part and said why
  return test_finish("preview");
}
