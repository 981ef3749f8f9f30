// A PNG a person can read at a glance: three orthogonal slices of a CT with
// the segmentation laid over it, and a legend of the structures present.
//
// Display convention (radiological, what a radiologist expects):
//   axial    (a plane of constant z): the patient's right on the image's
//            left, anterior at the top (seen from the feet);
//   coronal  (constant y): the patient's right on the image's left,
//            superior at the top (seen from the front);
//   sagittal (constant x): anterior on the image's left, superior at the top
//            (seen from the patient's left).
// In the volume's RAS+ world frame (data/volume.h) every image axis therefore
// runs from the + end of its world axis (R, A or S) to the - end. Which array
// axis is x, y or z, and in which direction it runs, comes from the affine:
// each world axis takes the array axis whose affine column points most along
// it (best of the six pairings), so RAS, LPS, LAS and permuted volumes all
// show the same picture. Oblique affines are shown along the nearest axes
// (no rotation). Slices are resampled to square pixels (nearest voxel) with
// one mm-per-pixel scale for the three panels, so shapes keep their physical
// proportions.
//
// The slices go through the centroid of the labelled voxels (label > 0);
// without labels, through the centroid of the body (CT above -500 HU);
// without either, through the middle of the volume. The CT is shown in a
// window (level/width, default 40/400 HU: soft tissue) as grey; each class
// index has a fixed colour (segc_preview_class_color), blended with alpha
// ~0.45 and outlined more strongly where the label changes. The legend lists
// the classes present sorted by voxel count (largest first) with their
// volume in ml, capped at max_legend_entries ("+ N more" after).
#ifndef SEGC_INFER_PREVIEW_H
#define SEGC_INFER_PREVIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "data/volume.h"
#include "image2d/image2d.h"

typedef struct {
  double window_level;     // HU at mid-grey (40)
  double window_width;     // HU from black to white (400)
  int overlay_alpha;       // 0..255 for label fill (115, ~0.45)
  bool outlines;           // draw label boundaries (true)
  int panel_size;          // pixels for the longest physical side (384)
  int max_legend_entries;  // classes listed at most (32)
  const char *title;       // first line of the header (NULL: "segc preview")
} segc_preview_options;

void segc_preview_default_options(segc_preview_options *options);

enum { SEGC_PREVIEW_AXIAL = 0, SEGC_PREVIEW_CORONAL = 1,
       SEGC_PREVIEW_SAGITTAL = 2 };

// Where things went, for callers and tests. Panels are indexed by
// SEGC_PREVIEW_AXIAL/CORONAL/SAGITTAL.
typedef struct {
  int panel_x[3], panel_y[3], panel_w[3], panel_h[3];  // on the canvas
  int array_axis[3];       // array axis holding world x, y, z
  int toward_plus[3];      // 1 when that array index grows toward R, A, S
  int64_t slice_index[3];  // index along the fixed axis of each panel
  double mm_per_pixel;
  int classes_present;     // classes > 0 with at least one voxel
  int legend_count;        // entries listed
  int legend_class[64];    // the first min(legend_count, 64) listed classes
} segc_preview_layout;

// A fixed, distinct colour per class index: the table made by
// tools/make_palette.py (greedy farthest colours in CIELAB, kept away from
// the greys of the CT and from very dark or pale tones). Index 0
// (background) is black and never drawn; indices past the table reuse it
// cyclically (1 + (index - 1) % 104).
enum { SEGC_PREVIEW_PALETTE_SIZE = 105 };
extern const segc_rgb segc_preview_palette[SEGC_PREVIEW_PALETTE_SIZE];
segc_rgb segc_preview_class_color(int index);

// Draws the preview into a new canvas (freed by the caller with
// segc_canvas_free). ct (any dtype, HU) and labels (integer dtype or f32
// holding integers 0..classes-1) may each be NULL but not both; when both
// are given their dims must match and their affines agree within 1e-3 mm.
// names (may be NULL) gives classes entries; a NULL name shows "class N".
// options may be NULL for the defaults; layout may be NULL.
segc_status segc_preview_render(segc_canvas *canvas, const segc_volume *ct,
                                const segc_volume *labels,
                                const char *const *names, int classes,
                                const segc_preview_options *options,
                                segc_preview_layout *layout);

// segc_preview_render, then the PNG (temporary file + rename).
segc_status segc_preview_write(const char *path, const segc_volume *ct,
                               const segc_volume *labels,
                               const char *const *names, int classes,
                               const segc_preview_options *options);

#endif
