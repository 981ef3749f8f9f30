// The preview's palette, header, captions, legend and orientation marks.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/preview_internal.h"

enum {
  kMargin = 14,
  kPanelGap = 16,
  kLegendGap = 24,
  kLegendRow = 14,
  kSwatch = 10,
  kMaxNameChars = 34,
};

static const segc_rgb kPaper = {16, 17, 22};
static const segc_rgb kInk = {236, 236, 236};
static const segc_rgb kDimInk = {150, 154, 166};
static const segc_rgb kMarkInk = {255, 214, 90};
static const segc_rgb kCrossInk = {120, 200, 255};

segc_rgb segc_preview_class_color(int index) {
  if (index <= 0) return segc_preview_palette[0];
  return segc_preview_palette[1 + (index - 1) % (SEGC_PREVIEW_PALETTE_SIZE - 1)];
}

typedef struct {
  int label;
  int64_t count;
} legend_entry;

static int by_count_descending(const void *a, const void *b) {
  const legend_entry *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return x->label - y->label;
}

static void class_name(const preview_plan *plan, int label, char *out,
                       size_t size) {
  const char *name = plan->names ? plan->names[label] : NULL;
  if (name && *name)
    snprintf(out, size, "%.*s", (int)kMaxNameChars, name);
  else
    snprintf(out, size, "class %d", label);
}

static const char *axes_code(const segc_preview_layout *L, char code[4]) {
  for (int w = 0; w < 3; ++w)
    code[L->array_axis[w]] = L->toward_plus[w] ? "RAS"[w] : "LPI"[w];
  code[3] = '\0';
  return code;
}

// World coordinate (mm) along the fixed axis of panel p at its slice.
static double slice_world_mm(const preview_plan *plan, int p) {
  const segc_volume *g = plan->grid;
  double index[3] = {(g->dim[0] - 1) / 2.0, (g->dim[1] - 1) / 2.0,
                     (g->dim[2] - 1) / 2.0};
  index[plan->layout.array_axis[kPanelFixed[p]]] =
      (double)plan->layout.slice_index[p];
  const int w = kPanelFixed[p];
  return g->affine[w][0] * index[0] + g->affine[w][1] * index[1] +
         g->affine[w][2] * index[2] + g->affine[w][3];
}

static void legend_line(const preview_plan *plan, const legend_entry *e,
                        double ml_per_voxel, int name_chars, char *out,
                        size_t size) {
  char name[64];
  class_name(plan, e->label, name, sizeof name);
  const double ml = (double)e->count * ml_per_voxel;
  snprintf(out, size, "%-*s %8.*f ml", name_chars, name, ml < 10.0 ? 2 : 1, ml);
}

segc_status preview_layout_and_decorate(preview_plan *plan,
                                        segc_canvas *canvas) {
  segc_preview_layout *L = &plan->layout;
  // Legend entries: classes present, largest first.
  legend_entry *entries = NULL;
  int present = 0;
  if (plan->classes > 1) {
    entries = malloc((size_t)plan->classes * sizeof *entries);
    if (!entries)
      return SEGC_FAIL(SEGC_ERR_NOMEM, "preview: no memory for the legend");
    for (int c = 1; c < plan->classes; ++c)
      if (plan->counts[c] > 0) entries[present++] = (legend_entry){c, plan->counts[c]};
    qsort(entries, (size_t)present, sizeof *entries, by_count_descending);
  }
  const int listed = present < plan->options.max_legend_entries
                         ? present : plan->options.max_legend_entries;
  L->classes_present = present;
  L->legend_count = listed;
  for (int e = 0; e < listed && e < 64; ++e) L->legend_class[e] = entries[e].label;
  // Voxel volume: |det| of the affine's 3x3 part, mm^3 -> ml.
  const double(*m)[4] = plan->grid->affine;
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const double ml_per_voxel = fabs(det) / 1000.0;
  int name_chars = 12;
  for (int e = 0; e < listed; ++e) {
    char name[64];
    class_name(plan, entries[e].label, name, sizeof name);
    if ((int)strlen(name) > name_chars) name_chars = (int)strlen(name);
  }

  // Header text.
  char title[256], info[512], code[4];
  snprintf(title, sizeof title, "%.200s",
           plan->options.title ? plan->options.title : "segc preview");
  const segc_volume *g = plan->grid;
  char window[64] = "labels only, no CT";
  if (plan->ct)
    snprintf(window, sizeof window, "CT window L%g W%g",
             plan->options.window_level, plan->options.window_width);
  snprintf(info, sizeof info,
           "%lldx%lldx%lld voxels of %.2fx%.2fx%.2f mm, axes %s   %s   slices "
           "through the centre of the %s",
           (long long)g->dim[0], (long long)g->dim[1], (long long)g->dim[2],
           plan->spacing[0], plan->spacing[1], plan->spacing[2],
           axes_code(L, code), window, plan->centre_from);
  const int header_h = kMargin + 20 + 6 + 10 + 14;
  const int caption_h = 26;
  int x = kMargin, tallest = 0;
  for (int p = 0; p < 3; ++p) {
    L->panel_x[p] = x;
    L->panel_y[p] = header_h + caption_h;
    x += L->panel_w[p] + kPanelGap;
    if (L->panel_h[p] > tallest) tallest = L->panel_h[p];
  }
  const int legend_x = x - kPanelGap + kLegendGap;
  char heading[96];
  snprintf(heading, sizeof heading, "%d structure%s present%s", present,
           present == 1 ? "" : "s", present ? ", largest first:" : "");
  int legend_w = 0;
  if (plan->classes > 1) {
    legend_w = kSwatch + 6 + (name_chars + 12) * SEGC_FONT_WIDTH;
    if (segc_text_width(heading, 1) > legend_w)
      legend_w = segc_text_width(heading, 1);
  }
  const int legend_rows = plan->classes > 1 ? 1 + listed + (present > listed) : 0;
  const int footer_y = header_h + caption_h + tallest + 8;
  int width = legend_x + legend_w + kMargin;
  const int info_w = segc_text_width(info, 1) + 2 * kMargin;
  if (info_w > width) width = info_w;
  int height = footer_y + 10 + kMargin;
  const int legend_bottom = header_h + caption_h + legend_rows * kLegendRow + kMargin;
  if (legend_bottom > height) height = legend_bottom;
  segc_status status = segc_canvas_init(canvas, width, height, kPaper);
  if (status != SEGC_OK) {
    free(entries);
    return status;
  }

  segc_canvas_text(canvas, kMargin, kMargin, title, 2, kInk, 255);
  segc_canvas_text(canvas, kMargin, kMargin + 26, info, 1, kDimInk, 255);
  static const char *const kPanelName[3] = {"Axial", "Coronal", "Sagittal"};
  for (int p = 0; p < 3; ++p) {
    char caption[96];
    snprintf(caption, sizeof caption, "%s  %c = %.1f mm", kPanelName[p],
             "xyz"[kPanelFixed[p]], slice_world_mm(plan, p));
    const int scale = segc_text_width(caption, 2) <= L->panel_w[p] ? 2 : 1;
    segc_canvas_text(canvas, L->panel_x[p], L->panel_y[p] - 6 - 10 * scale,
                     caption, scale, kInk, 255);
  }
  segc_canvas_text(canvas, kMargin, footer_y,
                   "Radiological view: patient's right on the image's left. "
                   "R/L, A/P, S/I mark the patient's sides; dashed lines show "
                   "the other two slices.", 1, kDimInk, 255);

  if (plan->classes > 1) {
    int y = header_h + caption_h;
    char line[160];
    segc_canvas_text(canvas, legend_x, y - 16, heading, 1, kInk, 255);
    for (int e = 0; e < listed; ++e, y += kLegendRow) {
      const segc_rgb color = segc_preview_class_color(entries[e].label);
      segc_canvas_fill_rect(canvas, legend_x, y + 1, kSwatch, kSwatch, color, 255);
      legend_line(plan, &entries[e], ml_per_voxel, name_chars, line, sizeof line);
      segc_canvas_text(canvas, legend_x + kSwatch + 6, y, line, 1, kInk, 255);
    }
    if (present > listed) {
      snprintf(line, sizeof line, "+ %d smaller structure%s not listed",
               present - listed, present - listed == 1 ? "" : "s");
      segc_canvas_text(canvas, legend_x, y, line, 1, kDimInk, 255);
    }
  }
  free(entries);
  return SEGC_OK;
}

// A dashed line across or down a panel.
static void dashed(segc_canvas *canvas, int x, int y, int length, bool across) {
  for (int t = 0; t < length; t += 8)
    segc_canvas_fill_rect(canvas, across ? x + t : x, across ? y : y + t,
                          across ? (length - t < 4 ? length - t : 4) : 1,
                          across ? 1 : (length - t < 4 ? length - t : 4),
                          kCrossInk, 150);
}

static void mark(segc_canvas *canvas, int x, int y, char letter, int scale) {
  const char text[2] = {letter, '\0'};
  const int pad = scale;
  segc_canvas_fill_rect(canvas, x - pad, y, SEGC_FONT_WIDTH * scale + pad,
                        SEGC_FONT_HEIGHT * scale + pad, segc_rgb_make(0, 0, 0),
                        140);
  segc_canvas_text(canvas, x, y, text, scale, kMarkInk, 255);
}

void preview_draw_panel_marks(const preview_plan *plan, segc_canvas *canvas) {
  const segc_preview_layout *L = &plan->layout;
  for (int p = 0; p < 3; ++p) {
    const int x0 = L->panel_x[p], y0 = L->panel_y[p];
    const int w = L->panel_w[p], h = L->panel_h[p];
    for (int q = 0; q < 3; ++q) {
      if (q == p) continue;
      const int fixed = kPanelFixed[q];
      const int at = preview_pixel_of(plan, fixed, L->slice_index[q]);
      if (fixed == kPanelAcross[p]) dashed(canvas, x0 + at, y0, h, false);
      if (fixed == kPanelDown[p]) dashed(canvas, x0, y0 + at, w, true);
    }
    // Letters of the sides: each image axis runs from + (R, A, S) to -.
    const int scale = w >= 120 && h >= 120 ? 2 : 1;
    const int cw = SEGC_FONT_WIDTH * scale, ch = SEGC_FONT_HEIGHT * scale;
    const int across = kPanelAcross[p], down = kPanelDown[p];
    if (w >= 4 * cw && h >= ch + 4) {  // room for the side letters
      mark(canvas, x0 + 3, y0 + (h - ch) / 2, "RAS"[across], scale);
      mark(canvas, x0 + w - cw - 2, y0 + (h - ch) / 2, "LPI"[across], scale);
    }
    if (h >= 4 * ch && w >= cw + 4) {  // room for top and bottom letters
      mark(canvas, x0 + (w - cw) / 2, y0 + 2, "RAS"[down], scale);
      mark(canvas, x0 + (w - cw) / 2, y0 + h - ch - 2, "LPI"[down], scale);
    }
  }
}
