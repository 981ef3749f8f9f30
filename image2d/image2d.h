// A small RGB canvas for pictures a person looks at (segmentation previews,
// training curves): filled rectangles, lines, alpha blending, text in segc's
// own 6x10 bitmap font (tools/make_font.py), and PNG output through libpng.
//
// Coordinates are pixels, x to the right, y down, (0, 0) the top-left pixel.
// Everything drawn is clipped to the canvas, so callers may draw partly
// outside it. Blending is per 8-bit channel:
//   out = round((dst * (255 - alpha) + src * alpha) / 255)
// with alpha 255 an opaque write and alpha 0 no change.
#ifndef SEGC_IMAGE2D_IMAGE2D_H
#define SEGC_IMAGE2D_IMAGE2D_H

#include <stdint.h>

#include "core/status.h"

typedef struct {
  uint8_t r, g, b;
} segc_rgb;

typedef struct {
  int width, height;
  uint8_t *pixels;  // (height, width, 3) RGB, rows top to bottom (malloc)
} segc_canvas;

// Largest canvas side accepted (keeps width * height * 3 far from overflow).
enum { SEGC_CANVAS_MAX_SIDE = 16384 };

// Allocates a canvas filled with `background`.
segc_status segc_canvas_init(segc_canvas *canvas, int width, int height,
                             segc_rgb background);
void segc_canvas_free(segc_canvas *canvas);

static inline segc_rgb segc_rgb_make(uint8_t r, uint8_t g, uint8_t b) {
  segc_rgb c = {r, g, b};
  return c;
}

// The pixel at (x, y); (0, 0, 0) outside the canvas.
segc_rgb segc_canvas_get(const segc_canvas *canvas, int x, int y);
// Blends `color` into one pixel with the given alpha (0..255).
void segc_canvas_blend(segc_canvas *canvas, int x, int y, segc_rgb color,
                       int alpha);
// Blends a w x h rectangle whose top-left pixel is (x, y); each pixel once.
void segc_canvas_fill_rect(segc_canvas *canvas, int x, int y, int w, int h,
                           segc_rgb color, int alpha);
// A 1-pixel outline of the w x h rectangle at (x, y), each pixel once.
void segc_canvas_rect_outline(segc_canvas *canvas, int x, int y, int w, int h,
                              segc_rgb color, int alpha);
// A straight line from (x0, y0) to (x1, y1), both ends included (Bresenham:
// one pixel per step along the longer axis, each blended once). A thickness
// above 1 stamps a thickness x thickness square at each step (pixels where
// squares overlap are blended more than once, so use it opaque).
void segc_canvas_line(segc_canvas *canvas, int x0, int y0, int x1, int y1,
                      segc_rgb color, int alpha, int thickness);

// Text in the 6x10 font: each character is a SEGC_FONT_WIDTH x
// SEGC_FONT_HEIGHT cell (5x9 glyph, a free column on the right and a free row
// on top), enlarged by the integer `scale` (each font pixel becomes scale x
// scale). (x, y) is the top-left of the first cell; '\n' starts a new line;
// bytes outside ASCII 32..126 draw as '?'. Only ink pixels are drawn.
enum { SEGC_FONT_WIDTH = 6, SEGC_FONT_HEIGHT = 10, SEGC_FONT_GLYPHS = 95 };
extern const uint8_t segc_font_glyphs[SEGC_FONT_GLYPHS][SEGC_FONT_HEIGHT];

void segc_canvas_text(segc_canvas *canvas, int x, int y, const char *text,
                      int scale, segc_rgb color, int alpha);
// Width and height in pixels of the text's bounding cells at `scale` (the
// longest line; lines count '\n' + 1).
int segc_text_width(const char *text, int scale);
int segc_text_height(const char *text, int scale);

// Writes the canvas as an 8-bit RGB PNG: to "<path>.tmp.<pid>" first, renamed
// to `path` once complete, so a failed write never leaves a half file. A
// missing folder, a libpng error, a short write or a failed close or rename
// is an SEGC_ERR_IO naming the path.
segc_status segc_canvas_write_png(const segc_canvas *canvas, const char *path);

#endif
