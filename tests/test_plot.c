// Training curves: one point and 5000 points (with NaN/Inf among them) drawn
// where the mapping in plot.h says, with ranges that ignore the non-finite
// values, and the empty and bad cases.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/plot.h"
#include "util/test_util.h"

static bool same(segc_rgb a, segc_rgb b) {
  return a.r == b.r && a.g == b.g && a.b == b.b;
}

// The mapping stated in plot.h, written out again.
static void expected_pixel(const segc_plot_layout *L, int p, double x, double y,
                           int *px, int *py) {
  *px = L->area_x[p] + (int)lround((x - L->x_min[p]) / (L->x_max[p] - L->x_min[p]) *
                                   (L->area_w[p] - 1));
  *py = L->area_y[p] + (int)lround((L->y_max[p] - y) / (L->y_max[p] - L->y_min[p]) *
                                   (L->area_h[p] - 1));
}

static int test_one_point(const char *dir) {
  const double loss_x[1] = {10}, loss_y[1] = {0.5}, dice_x[1] = {10}, dice_y[1] = {0.7};
  const segc_plot_series loss = {loss_x, loss_y, 1}, dice = {dice_x, dice_y, 1};
  segc_canvas c;
  segc_plot_layout L;
  CHECK_OK(segc_plot_render(&c, "one point", &loss, &dice, &L));
  CHECK(L.finite[0] == 1 && L.finite[1] == 1, "one finite point each");
  CHECK(L.x_min[0] < 10 && L.x_max[0] > 10 && L.y_min[0] < 0.5 && L.y_max[0] > 0.5,
        "loss range [%g,%g]x[%g,%g] holds the point", L.x_min[0], L.x_max[0],
        L.y_min[0], L.y_max[0]);
  CHECK(L.y_min[1] == 0.0 && L.y_max[1] == 1.0, "Dice axis is 0..1");
  CHECK(L.moving_average_window == 0, "no moving average of one value");
  int px, py;
  expected_pixel(&L, 0, 10, 0.5, &px, &py);
  CHECK(same(segc_canvas_get(&c, px, py), segc_plot_loss_average_color),
        "loss marker at (%d,%d)", px, py);
  expected_pixel(&L, 1, 10, 0.7, &px, &py);
  CHECK(same(segc_canvas_get(&c, px, py), segc_plot_dice_color) &&
            same(segc_canvas_get(&c, px + 2, py - 2), segc_plot_dice_color) &&
            !same(segc_canvas_get(&c, px + 3, py), segc_plot_dice_color),
        "Dice marker is the 5x5 square at (%d,%d)", px, py);
  segc_canvas_free(&c);
  CHECK_OK(segc_plot_curves(test_path(dir, "curves_1.png"), "one point", &loss, &dice));
  printf("wrote %s\n", test_path(dir, "curves_1.png"));
  return 0;
}

static int test_many_points(const char *dir) {
  enum { N = 5000, V = 50 };
  double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  double vx[V], vy[V];
  if (!x || !y) return 1;
  double lo = INFINITY, hi = -INFINITY;
  int bad = 1;  // x[1234] below
  for (int i = 0; i < N; ++i) {
    x[i] = i + 1;
    y[i] = 0.4 + 1.6 * exp(-i / 900.0) + 0.15 * sin(i * 0.7) * exp(-i / 3000.0);
    if (i % 997 == 5) y[i] = (i % 2) ? NAN : INFINITY, bad++;  // 6 of them
    else if (i != 1234) lo = fmin(lo, y[i]), hi = fmax(hi, y[i]);
  }
  x[1234] = NAN;  // a broken step is skipped too
  for (int v = 0; v < V; ++v) {
    vx[v] = (v + 1) * 100.0;
    vy[v] = 0.88 * (1.0 - exp(-(v + 1) / 12.0));
  }
  const segc_plot_series loss = {x, y, N}, dice = {vx, vy, V};
  segc_canvas c;
  segc_plot_layout L;
  CHECK_OK(segc_plot_render(&c, "5000 steps", &loss, &dice, &L));
  CHECK(L.finite[0] == N - bad && L.finite[1] == V, "finite values %lld, %lld",
        (long long)L.finite[0], (long long)L.finite[1]);
  CHECK(L.y_min[0] <= lo && L.y_max[0] >= hi && L.y_max[0] < hi + 0.5 && L.y_min[0] > lo - 0.5,
        "loss y range [%g,%g] hugs the finite values [%g,%g]", L.y_min[0], L.y_max[0], lo, hi);
  CHECK(L.x_min[0] <= 1 && L.x_max[0] >= N && L.x_max[0] < N * 1.2, "x range [%g,%g]",
        L.x_min[0], L.x_max[0]);
  CHECK(L.moving_average_window > 1, "moving average drawn");
  // Every 50th finite step lands on an inked pixel (trace or average).
  int missing = 0, checked = 0;
  for (int i = 0; i < N; i += 50) {
    if (!isfinite(x[i]) || !isfinite(y[i])) continue;
    int px, py;
    expected_pixel(&L, 0, x[i], y[i], &px, &py);
    const segc_rgb got = segc_canvas_get(&c, px, py);
    checked++;
    if (!same(got, segc_plot_loss_trace_color) && !same(got, segc_plot_loss_average_color))
      missing++;
  }
  CHECK(checked > 90 && missing == 0, "%d of %d sampled steps not on the curve",
        missing, checked);
  // Far below the curve at the start (low loss, early steps) nothing is drawn.
  int stray = 0;
  int x0, y0, x1, y1;
  expected_pixel(&L, 0, 1, lo, &x0, &y0);
  expected_pixel(&L, 0, 300, lo, &x1, &y1);
  for (int px = x0 + 2; px < x1; ++px)
    for (int py = y0 - 20; py <= y0; ++py) {
      const segc_rgb got = segc_canvas_get(&c, px, py);
      stray += same(got, segc_plot_loss_trace_color) || same(got, segc_plot_loss_average_color);
    }
  CHECK(stray == 0, "%d curve pixels where the loss never was", stray);
  // Dice points: each validation on the orange line.
  missing = 0;
  for (int v = 0; v < V; ++v) {
    int px, py;
    expected_pixel(&L, 1, vx[v], vy[v], &px, &py);
    missing += !same(segc_canvas_get(&c, px, py), segc_plot_dice_color);
  }
  CHECK(missing == 0, "%d Dice points off the line", missing);
  segc_canvas_free(&c);
  CHECK_OK(segc_plot_curves(test_path(dir, "curves_5000.png"), "5000 steps (7 NaN/Inf)",
                            &loss, &dice));
  printf("wrote %s\n", test_path(dir, "curves_5000.png"));
  free(x);
  free(y);
  return 0;
}

static int test_empty_and_bad(const char *dir) {
  segc_canvas c;
  segc_plot_layout L;
  CHECK_OK(segc_plot_render(&c, NULL, NULL, NULL, &L));
  CHECK(L.finite[0] == 0 && L.finite[1] == 0, "no data drawn");
  segc_canvas_free(&c);
  const double nan_y[3] = {NAN, INFINITY, -INFINITY};
  const segc_plot_series all_bad = {NULL, nan_y, 3};
  CHECK_OK(segc_plot_curves(test_path(dir, "curves_empty.png"), "only NaN", &all_bad, NULL));
  const segc_plot_series no_values = {NULL, NULL, 4};
  CHECK_FAILS(segc_plot_render(&c, "x", &no_values, NULL, NULL), SEGC_ERR_INVALID,
              "loss series has count 4 and no values");
  const double one[1] = {1.0};
  const segc_plot_series ok = {NULL, one, 1};
  CHECK_FAILS(segc_plot_curves(test_path(dir, "absent/curves.png"), "x", &ok, &ok),
              SEGC_ERR_IO, "folder does not exist");
  return 0;
}

int main(void) {
  const char *dir = test_temp_dir("plot");
  if (test_one_point(dir) || test_many_points(dir) || test_empty_and_bad(dir))
    return 1;  // a CHECK_OK stopped a part and said why
  return test_finish("plot");
}
