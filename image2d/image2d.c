#include "image2d/image2d.h"

#include <stdlib.h>
#include <string.h>

segc_status segc_canvas_init(segc_canvas *canvas, int width, int height,
                             segc_rgb background) {
  memset(canvas, 0, sizeof *canvas);
  if (width <= 0 || height <= 0 || width > SEGC_CANVAS_MAX_SIDE ||
      height > SEGC_CANVAS_MAX_SIDE)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "canvas: size %dx%d is outside 1..%d per side", width,
                     height, (int)SEGC_CANVAS_MAX_SIDE);
  const size_t count = (size_t)width * (size_t)height;
  canvas->pixels = malloc(count * 3);
  if (!canvas->pixels)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "canvas: cannot allocate %dx%d pixels",
                     width, height);
  canvas->width = width;
  canvas->height = height;
  for (size_t p = 0; p < count; ++p) {
    canvas->pixels[3 * p + 0] = background.r;
    canvas->pixels[3 * p + 1] = background.g;
    canvas->pixels[3 * p + 2] = background.b;
  }
  return SEGC_OK;
}

void segc_canvas_free(segc_canvas *canvas) {
  free(canvas->pixels);
  memset(canvas, 0, sizeof *canvas);
}

segc_rgb segc_canvas_get(const segc_canvas *canvas, int x, int y) {
  if (x < 0 || y < 0 || x >= canvas->width || y >= canvas->height)
    return segc_rgb_make(0, 0, 0);
  const uint8_t *p = canvas->pixels + 3 * ((size_t)y * canvas->width + x);
  return segc_rgb_make(p[0], p[1], p[2]);
}

// round((dst * (255 - a) + src * a) / 255): 255 is odd, so the quotient is
// never exactly halfway and adding 127 before the integer division rounds.
static inline uint8_t blend_channel(uint8_t dst, uint8_t src, int alpha) {
  return (uint8_t)(((unsigned)dst * (unsigned)(255 - alpha) +
                    (unsigned)src * (unsigned)alpha + 127u) / 255u);
}

static inline int clamp_alpha(int alpha) {
  return alpha < 0 ? 0 : alpha > 255 ? 255 : alpha;
}

static inline void blend_unchecked(segc_canvas *canvas, int x, int y,
                                   segc_rgb color, int alpha) {
  uint8_t *p = canvas->pixels + 3 * ((size_t)y * canvas->width + x);
  p[0] = blend_channel(p[0], color.r, alpha);
  p[1] = blend_channel(p[1], color.g, alpha);
  p[2] = blend_channel(p[2], color.b, alpha);
}

void segc_canvas_blend(segc_canvas *canvas, int x, int y, segc_rgb color,
                       int alpha) {
  if (x < 0 || y < 0 || x >= canvas->width || y >= canvas->height) return;
  blend_unchecked(canvas, x, y, color, clamp_alpha(alpha));
}

void segc_canvas_fill_rect(segc_canvas *canvas, int x, int y, int w, int h,
                           segc_rgb color, int alpha) {
  if (w <= 0 || h <= 0) return;
  // 64-bit ends so that x + w cannot overflow for callers far off-canvas.
  int64_t x0 = x, y0 = y, x1 = (int64_t)x + w, y1 = (int64_t)y + h;
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 > canvas->width) x1 = canvas->width;
  if (y1 > canvas->height) y1 = canvas->height;
  alpha = clamp_alpha(alpha);
  for (int64_t py = y0; py < y1; ++py)
    for (int64_t px = x0; px < x1; ++px)
      blend_unchecked(canvas, (int)px, (int)py, color, alpha);
}

void segc_canvas_rect_outline(segc_canvas *canvas, int x, int y, int w, int h,
                              segc_rgb color, int alpha) {
  if (w <= 0 || h <= 0) return;
  segc_canvas_fill_rect(canvas, x, y, w, 1, color, alpha);
  if (h > 1) segc_canvas_fill_rect(canvas, x, y + h - 1, w, 1, color, alpha);
  if (h > 2) {
    segc_canvas_fill_rect(canvas, x, y + 1, 1, h - 2, color, alpha);
    if (w > 1)
      segc_canvas_fill_rect(canvas, x + w - 1, y + 1, 1, h - 2, color, alpha);
  }
}

void segc_canvas_line(segc_canvas *canvas, int x0, int y0, int x1, int y1,
                      segc_rgb color, int alpha, int thickness) {
  if (thickness < 1) thickness = 1;
  const int before = (thickness - 1) / 2;  // square offset around the centre
  int64_t dx = (int64_t)x1 - x0, dy = (int64_t)y1 - y0;
  const int64_t sx = dx < 0 ? -1 : 1, sy = dy < 0 ? -1 : 1;
  dx = dx < 0 ? -dx : dx;
  dy = dy < 0 ? -dy : dy;
  // Lines far outside any canvas are pointless and would loop for long.
  if (dx > 4 * SEGC_CANVAS_MAX_SIDE || dy > 4 * SEGC_CANVAS_MAX_SIDE) return;
  int64_t x = x0, y = y0, error = dx - dy;
  for (;;) {
    if (thickness == 1)
      segc_canvas_blend(canvas, (int)x, (int)y, color, alpha);
    else
      segc_canvas_fill_rect(canvas, (int)x - before, (int)y - before,
                            thickness, thickness, color, alpha);
    if (x == x1 && y == y1) break;
    const int64_t twice = 2 * error;
    if (twice > -dy) {
      error -= dy;
      x += sx;
    }
    if (twice < dx) {
      error += dx;
      y += sy;
    }
  }
}

static const uint8_t *glyph_for(unsigned char c) {
  if (c < 32 || c > 126) c = '?';
  return segc_font_glyphs[c - 32];
}

void segc_canvas_text(segc_canvas *canvas, int x, int y, const char *text,
                      int scale, segc_rgb color, int alpha) {
  if (scale < 1) scale = 1;
  int pen_x = x, pen_y = y;
  for (const unsigned char *c = (const unsigned char *)text; *c; ++c) {
    if (*c == '\n') {
      pen_x = x;
      pen_y += SEGC_FONT_HEIGHT * scale;
      continue;
    }
    const uint8_t *rows = glyph_for(*c);
    for (int row = 0; row < SEGC_FONT_HEIGHT; ++row)
      for (int col = 0; col < SEGC_FONT_WIDTH; ++col)
        if (rows[row] & (1u << (SEGC_FONT_WIDTH - 1 - col)))
          segc_canvas_fill_rect(canvas, pen_x + col * scale,
                                pen_y + row * scale, scale, scale, color,
                                alpha);
    pen_x += SEGC_FONT_WIDTH * scale;
  }
}

int segc_text_width(const char *text, int scale) {
  if (scale < 1) scale = 1;
  int longest = 0, current = 0;
  for (const char *c = text; *c; ++c) {
    if (*c == '\n') {
      current = 0;
      continue;
    }
    if (++current > longest) longest = current;
  }
  return longest * SEGC_FONT_WIDTH * scale;
}

int segc_text_height(const char *text, int scale) {
  if (scale < 1) scale = 1;
  int lines = 1;
  for (const char *c = text; *c; ++c) lines += *c == '\n';
  return lines * SEGC_FONT_HEIGHT * scale;
}
