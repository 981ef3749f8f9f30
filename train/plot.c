#include "train/plot.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const segc_rgb segc_plot_loss_trace_color = {160, 192, 232};
const segc_rgb segc_plot_loss_average_color = {24, 78, 168};
const segc_rgb segc_plot_dice_color = {214, 100, 16};
static const segc_rgb kPaper = {255, 255, 255};
static const segc_rgb kInk = {28, 30, 36};
static const segc_rgb kSoftInk = {110, 112, 124};
static const segc_rgb kGrid = {226, 229, 236};
static const segc_rgb kFrame = {150, 152, 162};
static const segc_rgb kBest = {196, 24, 40};

enum {
  kCanvasW = 1080, kCanvasH = 440,
  kAreaY = 78, kAreaW = 440, kAreaH = 290,
  kArea0X = 72, kArea1X = 72 + 440 + 96,
  kMinAveraged = 20,  // fewer finite losses than this: no moving average
};

typedef struct {
  double *x, *y;  // finite points only
  int64_t count, skipped;
} points;

static segc_status collect(const segc_plot_series *s, const char *what,
                           points *out) {
  memset(out, 0, sizeof *out);
  if (!s || s->count == 0) return SEGC_OK;
  if (s->count < 0 || !s->y)
    return SEGC_FAIL(SEGC_ERR_INVALID, "plot: %s series has count %lld and %s",
                     what, (long long)s->count, s->y ? "values" : "no values");
  out->x = malloc((size_t)s->count * sizeof *out->x);
  out->y = malloc((size_t)s->count * sizeof *out->y);
  if (!out->x || !out->y) {
    free(out->x);
    free(out->y);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "plot: no memory for %lld %s values",
                     (long long)s->count, what);
  }
  for (int64_t i = 0; i < s->count; ++i) {
    const double x = s->x ? s->x[i] : (double)i, y = s->y[i];
    if (!isfinite(x) || !isfinite(y)) {
      out->skipped++;
      continue;
    }
    out->x[out->count] = x;
    out->y[out->count++] = y;
  }
  return SEGC_OK;
}

// A step of 1, 2 or 5 times a power of ten giving about `target` intervals.
static double nice_step(double span, int target) {
  const double raw = span / target;
  const double power = pow(10.0, floor(log10(raw)));
  const double fraction = raw / power;
  return power * (fraction <= 1.5 ? 1.0 : fraction <= 3.5 ? 2.0
                                          : fraction <= 7.5 ? 5.0 : 10.0);
}

// Widens [lo, hi] to multiples of a nice step (at least min_step).
static double nice_range(double *lo, double *hi, int target, double min_step) {
  if (!(*hi > *lo)) {
    const double pad = fabs(*lo) > 1e-9 ? 0.1 * fabs(*lo) : 1.0;
    *lo -= pad;
    *hi += pad;
  }
  double step = nice_step(*hi - *lo, target);
  if (step < min_step) step = min_step;
  const double lo_nice = floor(*lo / step + 1e-9) * step;
  const double hi_nice = ceil(*hi / step - 1e-9) * step;
  if (isfinite(step) && step > 0.0 && isfinite(lo_nice) && isfinite(hi_nice) &&
      hi_nice > lo_nice && (hi_nice - lo_nice) / step < 100.0) {
    *lo = lo_nice, *hi = hi_nice;
    return step;
  }
  // Extreme values (near the double range, or a span below its precision).
  if (!(isfinite(*hi - *lo) && *hi - *lo > 0.0)) *lo = -1.0, *hi = 1.0;
  return (*hi - *lo) / 4.0;
}

static void format_tick(double v, double step, char *out, size_t size) {
  if (fabs(v) < step * 1e-6) v = 0.0;  // no "-0" from rounding
  if (step >= 1000.0 && v != 0.0 && fmod(v, 1000.0) == 0.0 && fabs(v) < 1e9)
    snprintf(out, size, "%.0fk", v / 1000.0);
  else if (step >= 1.0)
    snprintf(out, size, fabs(v) < 1e7 ? "%.0f" : "%.3g", v);
  else
    snprintf(out, size, "%.*f", (int)-floor(log10(step) + 1e-9), v);
}

// Pixel offsets are clamped so absurd values stay far off-canvas, not UB.
static int to_pixel(double offset) {
  return (int)lround(offset < -1e6 ? -1e6 : offset > 1e6 ? 1e6 : offset);
}
static int map_x(const segc_plot_layout *L, int p, double x) {
  return L->area_x[p] + to_pixel((x - L->x_min[p]) / (L->x_max[p] - L->x_min[p]) *
                                 (L->area_w[p] - 1));
}
static int map_y(const segc_plot_layout *L, int p, double y) {
  return L->area_y[p] + to_pixel((L->y_max[p] - y) / (L->y_max[p] - L->y_min[p]) *
                                 (L->area_h[p] - 1));
}

// Grid, frame, ticks and tick labels of panel p.
static void draw_axes(segc_canvas *c, const segc_plot_layout *L, int p,
                      double x_step, double y_step) {
  const int ax = L->area_x[p], ay = L->area_y[p], aw = L->area_w[p], ah = L->area_h[p];
  char label[32];
  const long x_ticks = lround((L->x_max[p] - L->x_min[p]) / x_step);
  for (long t = 0; t <= x_ticks; ++t) {
    const double x = L->x_min[p] + (double)t * x_step;
    const int px = map_x(L, p, x);
    segc_canvas_fill_rect(c, px, ay, 1, ah, kGrid, 255);
    segc_canvas_fill_rect(c, px, ay + ah, 1, 5, kFrame, 255);
    format_tick(x, x_step, label, sizeof label);
    segc_canvas_text(c, px - segc_text_width(label, 1) / 2, ay + ah + 8, label, 1,
                     kSoftInk, 255);
  }
  const long y_ticks = lround((L->y_max[p] - L->y_min[p]) / y_step);
  for (long t = 0; t <= y_ticks; ++t) {
    const double y = L->y_min[p] + (double)t * y_step;
    const int py = map_y(L, p, y);
    segc_canvas_fill_rect(c, ax, py, aw, 1, kGrid, 255);
    segc_canvas_fill_rect(c, ax - 5, py, 5, 1, kFrame, 255);
    format_tick(y, y_step, label, sizeof label);
    segc_canvas_text(c, ax - 8 - segc_text_width(label, 1), py - 5, label, 1,
                     kSoftInk, 255);
  }
  segc_canvas_rect_outline(c, ax - 1, ay - 1, aw + 2, ah + 2, kFrame, 255);
  segc_canvas_text(c, ax + aw / 2 - segc_text_width("step", 1) / 2, ay + ah + 24,
                   "step", 1, kSoftInk, 255);
}

typedef struct {
  const char *text;
  segc_rgb color;
  int thickness;
} legend_item;

// A legend box in a corner of panel p (top right, or bottom right).
static void draw_legend(segc_canvas *c, const segc_plot_layout *L, int p,
                        const legend_item *items, int count, bool bottom) {
  int text_w = 0;
  for (int i = 0; i < count; ++i)
    if (segc_text_width(items[i].text, 1) > text_w) text_w = segc_text_width(items[i].text, 1);
  const int w = 8 + 20 + 6 + text_w + 8, h = 6 + 14 * count + 2;
  const int x = L->area_x[p] + L->area_w[p] - w - 8;
  const int y = bottom ? L->area_y[p] + L->area_h[p] - h - 8 : L->area_y[p] + 8;
  segc_canvas_fill_rect(c, x, y, w, h, kPaper, 235);
  segc_canvas_rect_outline(c, x, y, w, h, kFrame, 255);
  for (int i = 0; i < count; ++i) {
    const int ly = y + 6 + 14 * i;
    segc_canvas_line(c, x + 8, ly + 5, x + 27, ly + 5, items[i].color, 255,
                     items[i].thickness);
    segc_canvas_text(c, x + 34, ly, items[i].text, 1, kInk, 255);
  }
}

static void centred_note(segc_canvas *c, const segc_plot_layout *L, int p,
                         const char *text) {
  segc_canvas_text(c, L->area_x[p] + (L->area_w[p] - segc_text_width(text, 2)) / 2,
                   L->area_y[p] + L->area_h[p] / 2 - 10, text, 2, kSoftInk, 255);
}

static void polyline(segc_canvas *c, const segc_plot_layout *L, int p,
                     const double *x, const double *y, int64_t n, segc_rgb color,
                     int thickness) {
  int prev_x = 0, prev_y = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int px = map_x(L, p, x[i]), py = map_y(L, p, y[i]);
    if (i == 0) segc_canvas_line(c, px, py, px, py, color, 255, thickness);
    else segc_canvas_line(c, prev_x, prev_y, px, py, color, 255, thickness);
    prev_x = px;
    prev_y = py;
  }
}

static void set_ranges(segc_plot_layout *L, int p, const points *pts,
                       bool unit_interval, double *x_step, double *y_step) {
  double x_lo = 0.0, x_hi = 1.0, y_lo = 0.0, y_hi = 1.0;
  bool integer_steps = true;  // steps are whole numbers: no 0.2 ticks
  for (int64_t i = 0; i < pts->count && integer_steps; ++i)
    integer_steps = pts->x[i] == floor(pts->x[i]);
  if (pts->count > 0) {
    x_lo = x_hi = pts->x[0];
    y_lo = y_hi = pts->y[0];
    for (int64_t i = 1; i < pts->count; ++i) {
      x_lo = fmin(x_lo, pts->x[i]), x_hi = fmax(x_hi, pts->x[i]);
      y_lo = fmin(y_lo, pts->y[i]), y_hi = fmax(y_hi, pts->y[i]);
    }
  }
  if (unit_interval) {  // Dice: the full 0..1 unless a value falls outside
    y_lo = fmin(y_lo, 0.0);
    y_hi = fmax(y_hi, 1.0);
  } else if (pts->count > 0 && y_hi > y_lo) {
    const double pad = 0.03 * (y_hi - y_lo);
    y_lo -= pad, y_hi += pad;
  }
  if (integer_steps && !(x_hi > x_lo)) x_lo -= 1.0, x_hi += 1.0;
  *x_step = nice_range(&x_lo, &x_hi, 6, integer_steps ? 1.0 : 0.0);
  *y_step = nice_range(&y_lo, &y_hi, 6, 0.0);
  L->x_min[p] = x_lo, L->x_max[p] = x_hi, L->y_min[p] = y_lo, L->y_max[p] = y_hi;
  L->finite[p] = pts->count;
}

static void skipped_note(segc_canvas *c, const segc_plot_layout *L, int p,
                         const points *pts) {
  if (pts->skipped == 0) return;
  char text[96];
  snprintf(text, sizeof text, "%lld non-finite value%s skipped",
           (long long)pts->skipped, pts->skipped == 1 ? "" : "s");
  segc_canvas_text(c, L->area_x[p] + 6, L->area_y[p] + L->area_h[p] - 16, text, 1,
                   kBest, 255);
}

static segc_status draw_loss(segc_canvas *c, segc_plot_layout *L,
                             const points *pts) {
  const int p = SEGC_PLOT_LOSS;
  if (pts->count == 0) {
    centred_note(c, L, p, pts->skipped ? "no finite values" : "no data yet");
    skipped_note(c, L, p, pts);
    return SEGC_OK;
  }
  polyline(c, L, p, pts->x, pts->y, pts->count, segc_plot_loss_trace_color, 1);
  legend_item items[2] = {{"loss, each step", segc_plot_loss_trace_color, 2},
                          {NULL, segc_plot_loss_average_color, 2}};
  char average_text[64];
  int items_count = 1;
  if (pts->count >= kMinAveraged) {
    // Trailing mean over a window of about 1/40 of the run.
    int64_t window = pts->count / 40;
    if (window < 5) window = 5;
    double *mean = malloc((size_t)pts->count * sizeof *mean);
    if (!mean) return SEGC_FAIL(SEGC_ERR_NOMEM, "plot: no memory for the average");
    double sum = 0.0;
    for (int64_t i = 0; i < pts->count; ++i) {
      sum += pts->y[i];
      if (i >= window) sum -= pts->y[i - window];
      mean[i] = sum / (double)(i < window ? i + 1 : window);
    }
    polyline(c, L, p, pts->x, mean, pts->count, segc_plot_loss_average_color, 2);
    free(mean);
    L->moving_average_window = window;
    snprintf(average_text, sizeof average_text, "mean of last %lld steps",
             (long long)window);
    items[1].text = average_text;
    items_count = 2;
  } else {
    for (int64_t i = 0; i < pts->count; ++i)  // few points: show each one
      segc_canvas_fill_rect(c, map_x(L, p, pts->x[i]) - 2, map_y(L, p, pts->y[i]) - 2,
                            5, 5, segc_plot_loss_average_color, 255);
    items[0].color = segc_plot_loss_average_color;
  }
  draw_legend(c, L, p, items, items_count, false);
  skipped_note(c, L, p, pts);
  return SEGC_OK;
}

static void draw_dice(segc_canvas *c, segc_plot_layout *L, const points *pts) {
  const int p = SEGC_PLOT_DICE;
  if (pts->count == 0) {
    centred_note(c, L, p, pts->skipped ? "no finite values" : "no validation yet");
    skipped_note(c, L, p, pts);
    return;
  }
  polyline(c, L, p, pts->x, pts->y, pts->count, segc_plot_dice_color, 2);
  if (pts->count * 8 <= L->area_w[p])
    for (int64_t i = 0; i < pts->count; ++i)
      segc_canvas_fill_rect(c, map_x(L, p, pts->x[i]) - 2, map_y(L, p, pts->y[i]) - 2,
                            5, 5, segc_plot_dice_color, 255);
  int64_t best = 0;
  for (int64_t i = 1; i < pts->count; ++i)
    if (pts->y[i] > pts->y[best]) best = i;
  const int bx = map_x(L, p, pts->x[best]), by = map_y(L, p, pts->y[best]);
  segc_canvas_rect_outline(c, bx - 5, by - 5, 11, 11, kBest, 255);
  segc_canvas_rect_outline(c, bx - 6, by - 6, 13, 13, kBest, 255);
  char text[96], step[32];
  format_tick(pts->x[best], 1.0, step, sizeof step);
  snprintf(text, sizeof text, "best %.4f at step %s, last %.4f", pts->y[best],
           step, pts->y[pts->count - 1]);
  segc_canvas_text(c, L->area_x[p] + 8, L->area_y[p] + 8, text, 1, kBest, 255);
  const legend_item item = {"validation mean Dice", segc_plot_dice_color, 2};
  draw_legend(c, L, p, &item, 1, true);
  skipped_note(c, L, p, pts);
}

segc_status segc_plot_render(segc_canvas *canvas, const char *title,
                             const segc_plot_series *loss,
                             const segc_plot_series *dice,
                             segc_plot_layout *layout) {
  memset(canvas, 0, sizeof *canvas);
  points losses, dices;
  SEGC_TRY(collect(loss, "loss", &losses));
  segc_status status = collect(dice, "dice", &dices);
  if (status != SEGC_OK) {
    free(losses.x), free(losses.y);
    return status;
  }
  segc_plot_layout L;
  memset(&L, 0, sizeof L);
  const int area_x[2] = {kArea0X, kArea1X};
  for (int p = 0; p < 2; ++p) {
    L.area_x[p] = area_x[p], L.area_y[p] = kAreaY;
    L.area_w[p] = kAreaW, L.area_h[p] = kAreaH;
  }
  double x_step[2], y_step[2];
  set_ranges(&L, SEGC_PLOT_LOSS, &losses, false, &x_step[0], &y_step[0]);
  set_ranges(&L, SEGC_PLOT_DICE, &dices, true, &x_step[1], &y_step[1]);
  status = segc_canvas_init(canvas, kCanvasW, kCanvasH, kPaper);
  if (status == SEGC_OK) {
    char heading[256];
    snprintf(heading, sizeof heading, "%.120s", title && *title ? title : "training");
    segc_canvas_text(canvas, kArea0X - 50, 14, heading, 2, kInk, 255);
    static const char *const kPanelTitle[2] = {"Training loss", "Validation mean Dice"};
    for (int p = 0; p < 2; ++p) {
      segc_canvas_text(canvas, L.area_x[p], kAreaY - 30, kPanelTitle[p], 2, kInk, 255);
      draw_axes(canvas, &L, p, x_step[p], y_step[p]);
    }
    status = draw_loss(canvas, &L, &losses);
    if (status == SEGC_OK) draw_dice(canvas, &L, &dices);
  }
  free(losses.x), free(losses.y), free(dices.x), free(dices.y);
  if (status != SEGC_OK) {
    segc_canvas_free(canvas);
    return status;
  }
  if (layout) *layout = L;
  return SEGC_OK;
}

segc_status segc_plot_curves(const char *path, const char *title,
                             const segc_plot_series *loss,
                             const segc_plot_series *dice) {
  segc_canvas canvas;
  SEGC_TRY(segc_plot_render(&canvas, title, loss, dice, NULL));
  const segc_status status = segc_canvas_write_png(&canvas, path);
  segc_canvas_free(&canvas);
  return status;
}
