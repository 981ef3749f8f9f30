// Training curves as a PNG: two panels side by side, the training loss per
// step and the validation mean Dice per validation, with numeric ticks, grid,
// a title and a legend in each panel.
//
// Loss: every step as a light trace (when there are more steps than pixel
// columns, each column shows the min..max of its steps), and a trailing
// moving average as a dark line once there are 20 finite values or more.
// Dice: points joined by lines (markers while they fit), the best value
// ringed and quoted. Non-finite values (NaN, Inf, in x or y) are skipped and
// their number shown. Data map to the plot area linearly:
//   px = area_x + round((x - x_min) / (x_max - x_min) * (area_w - 1))
//   py = area_y + round((y_max - y) / (y_max - y_min) * (area_h - 1))
// with the ranges widened to round tick values (Dice uses 0..1 unless a value
// falls outside).
#ifndef SEGC_TRAIN_PLOT_H
#define SEGC_TRAIN_PLOT_H

#include <stdint.h>

#include "image2d/image2d.h"

typedef struct {
  const double *x;  // (count) step of each value, or NULL for 0, 1, 2...
  const double *y;  // (count)
  int64_t count;
} segc_plot_series;

enum { SEGC_PLOT_LOSS = 0, SEGC_PLOT_DICE = 1 };

typedef struct {
  int area_x[2], area_y[2], area_w[2], area_h[2];  // plot areas on the canvas
  double x_min[2], x_max[2], y_min[2], y_max[2];   // data range of each area
  int64_t finite[2];                               // values drawn
  int64_t moving_average_window;                   // 0 when not drawn
} segc_plot_layout;

// Colours, for callers and tests.
extern const segc_rgb segc_plot_loss_trace_color, segc_plot_loss_average_color,
    segc_plot_dice_color;

// Draws into a new canvas (free with segc_canvas_free). Either series may be
// NULL or empty ("no data yet"). layout may be NULL.
segc_status segc_plot_render(segc_canvas *canvas, const char *title,
                             const segc_plot_series *loss,
                             const segc_plot_series *dice,
                             segc_plot_layout *layout);

// segc_plot_render, then the PNG (temporary file + rename).
segc_status segc_plot_curves(const char *path, const char *title,
                             const segc_plot_series *loss,
                             const segc_plot_series *dice);

#endif
