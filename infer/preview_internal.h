// Shared between preview.c (geometry, panels) and preview_decor.c (header,
// legend, captions, orientation marks). Not a public header.
#ifndef SEGC_INFER_PREVIEW_INTERNAL_H
#define SEGC_INFER_PREVIEW_INTERNAL_H

#include "infer/preview.h"

// World axes (0 x, 1 y, 2 z) of each panel: the one held fixed, the one
// running across (left to right) and the one running down.
static const int kPanelFixed[3] = {2, 1, 0};
static const int kPanelAcross[3] = {0, 0, 1};
static const int kPanelDown[3] = {1, 2, 2};

typedef struct {
  segc_preview_options options;
  const segc_volume *ct, *labels;
  const segc_volume *grid;  // ct or labels: dims and affine
  const char *const *names;
  int classes;              // 0 without labels
  int64_t *counts;          // (classes) voxels per class
  const char *centre_from;  // what the slices go through, for the header
  double spacing[3];        // mm per array axis
  int pixels[3];            // panel pixels along world x, y, z
  segc_preview_layout layout;
} preview_plan;

double preview_voxel(const segc_volume *v, int64_t offset);
int64_t preview_index_at(const preview_plan *plan, int w, int pixel);
int preview_pixel_of(const preview_plan *plan, int w, int64_t index);

// Places panels and legend, creates the canvas, draws header, captions and
// legend (and fills layout's panel and legend fields).
segc_status preview_layout_and_decorate(preview_plan *plan,
                                        segc_canvas *canvas);
// Orientation letters and the other slices' positions, over the panels.
void preview_draw_panel_marks(const preview_plan *plan, segc_canvas *canvas);

#endif
