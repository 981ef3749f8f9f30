// Canvas primitives checked pixel by pixel on tiny canvases against a
// double-precision blend written here, glyph pixels against patterns written
// out here, and the PNG writer by reading the file back with libpng.
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "image2d/image2d.h"
#include "util/test_util.h"

static const segc_rgb kBackground = {10, 20, 30};

// The blend as the header states it, in double: exact, no tolerance.
static segc_rgb reference_blend(segc_rgb dst, segc_rgb src, int alpha) {
  const double a = alpha / 255.0;
  segc_rgb out = {
      (uint8_t)lround(dst.r * (1.0 - a) + src.r * a),
      (uint8_t)lround(dst.g * (1.0 - a) + src.g * a),
      (uint8_t)lround(dst.b * (1.0 - a) + src.b * a)};
  return out;
}

static bool same(segc_rgb a, segc_rgb b) {
  return a.r == b.r && a.g == b.g && a.b == b.b;
}

// Checks every pixel: those with expected[y * w + x] != 0 must hold `inked`,
// the rest the background.
static int check_mask(const segc_canvas *c, const char *mask, segc_rgb inked,
                      const char *what) {
  int wrong = 0;
  for (int y = 0; y < c->height; ++y)
    for (int x = 0; x < c->width; ++x) {
      const segc_rgb want = mask[y * c->width + x] != '.' ? inked : kBackground;
      const segc_rgb got = segc_canvas_get(c, x, y);
      if (!same(got, want) && wrong++ < 4)
        fprintf(stderr, "%s: pixel (%d,%d) is %d,%d,%d, wanted %d,%d,%d\n",
                what, x, y, got.r, got.g, got.b, want.r, want.g, want.b);
    }
  return wrong;
}

static int test_rectangles(void) {
  segc_canvas c;
  CHECK_OK(segc_canvas_init(&c, 6, 4, kBackground));
  const segc_rgb orange = {200, 100, 0};
  // Partly outside on the left and bottom: only the inside is drawn.
  segc_canvas_fill_rect(&c, -2, 1, 5, 9, orange, 128);
  const segc_rgb once = reference_blend(kBackground, orange, 128);
  CHECK(check_mask(&c, "......"
                       "###..."
                       "###..."
                       "###...", once, "fill_rect") == 0, "clipped blend");
  // Opaque and fully transparent.
  segc_canvas_fill_rect(&c, 4, 0, 2, 1, orange, 255);
  CHECK(same(segc_canvas_get(&c, 5, 0), orange), "alpha 255 writes the colour");
  segc_canvas_fill_rect(&c, 0, 0, 6, 4, orange, 0);
  CHECK(same(segc_canvas_get(&c, 1, 0), kBackground), "alpha 0 changes nothing");
  segc_canvas_free(&c);

  // Outline: border pixels blended exactly once, the inside untouched.
  CHECK_OK(segc_canvas_init(&c, 5, 4, kBackground));
  const segc_rgb cyan = {0, 220, 240};
  segc_canvas_rect_outline(&c, 0, 0, 5, 4, cyan, 77);
  CHECK(check_mask(&c, "#####"
                       "#...#"
                       "#...#"
                       "#####", reference_blend(kBackground, cyan, 77),
                   "outline") == 0, "outline blends each pixel once");
  segc_canvas_free(&c);

  // Every (dst, src, alpha) of a sweep against the double formula.
  CHECK_OK(segc_canvas_init(&c, 1, 1, kBackground));
  int mismatches = 0;
  for (int dst = 0; dst < 256; dst += 5)
    for (int src = 0; src < 256; src += 3)
      for (int alpha = 0; alpha < 256; ++alpha) {
        const segc_rgb d = {(uint8_t)dst, (uint8_t)(255 - dst), 0};
        const segc_rgb s = {(uint8_t)src, 7, (uint8_t)(255 - src)};
        segc_canvas_fill_rect(&c, 0, 0, 1, 1, d, 255);
        segc_canvas_blend(&c, 0, 0, s, alpha);
        mismatches += !same(segc_canvas_get(&c, 0, 0), reference_blend(d, s, alpha));
      }
  CHECK(mismatches == 0, "%d blends differ from round(dst*(1-a)+src*a)",
        mismatches);
  segc_canvas_free(&c);
  return 0;
}

static int test_lines(void) {
  segc_canvas c;
  const segc_rgb red = {255, 0, 0};
  CHECK_OK(segc_canvas_init(&c, 6, 4, kBackground));
  // y = 2x/5 rounded: 0 0 1 1 2 2 (no ties, so the pixels are unambiguous).
  segc_canvas_line(&c, 0, 0, 5, 2, red, 255, 1);
  CHECK(check_mask(&c, "##...."
                       "..##.."
                       "....##"
                       "......", red, "shallow line") == 0, "shallow line");
  segc_canvas_free(&c);

  CHECK_OK(segc_canvas_init(&c, 4, 5, kBackground));
  segc_canvas_line(&c, 3, 4, 0, 1, red, 90, 1);  // right to left, upwards
  CHECK(check_mask(&c, "...."
                       "#..."
                       ".#.."
                       "..#."
                       "...#", reference_blend(kBackground, red, 90),
                   "diagonal") == 0, "diagonal blended once per pixel");
  segc_canvas_free(&c);

  CHECK_OK(segc_canvas_init(&c, 5, 5, kBackground));
  // Thick: a 3x3 square centred on each of the pixels x = 1..3 of row 2.
  segc_canvas_line(&c, 1, 2, 3, 2, red, 255, 3);
  CHECK(check_mask(&c, "....."
                       "#####"
                       "#####"
                       "#####"
                       ".....", red, "thick line") == 0, "thickness 3");
  segc_canvas_line(&c, -100, -50, -90, -40, red, 255, 1);  // all outside
  segc_canvas_line(&c, 2, -10, 2, 20, red, 255, 1);        // clipped
  CHECK(same(segc_canvas_get(&c, 2, 0), red) && same(segc_canvas_get(&c, 2, 4), red) &&
            same(segc_canvas_get(&c, 1, 0), kBackground),
        "vertical line clipped to the canvas");
  segc_canvas_free(&c);
  return 0;
}

// 'H' and 'T' as drawn in tools/make_font.py, in a 6x10 cell (top row free).
static const char kGlyphH[] = "......"
                              "#...#."
                              "#...#."
                              "#...#."
                              "#####."
                              "#...#."
                              "#...#."
                              "#...#."
                              "......"
                              "......";
static const char kGlyphT[] = "......"
                              "#####."
                              "..#..."
                              "..#..."
                              "..#..."
                              "..#..."
                              "..#..."
                              "..#..."
                              "......"
                              "......";

static int test_text(void) {
  segc_canvas c;
  const segc_rgb white = {255, 255, 255};
  CHECK_OK(segc_canvas_init(&c, 6, 10, kBackground));
  segc_canvas_text(&c, 0, 0, "H", 1, white, 255);
  CHECK(check_mask(&c, kGlyphH, white, "glyph H") == 0, "'H' pixels");
  segc_canvas_free(&c);

  // "HT" at scale 2 from (1, 2): each font pixel is a 2x2 block.
  CHECK_OK(segc_canvas_init(&c, 26, 23, kBackground));
  segc_canvas_text(&c, 1, 2, "HT", 2, white, 255);
  char expected[26 * 23];
  memset(expected, '.', sizeof expected);
  for (int g = 0; g < 2; ++g)
    for (int row = 0; row < 10; ++row)
      for (int col = 0; col < 6; ++col)
        if ((g == 0 ? kGlyphH : kGlyphT)[row * 6 + col] == '#')
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx)
              expected[(2 + 2 * row + dy) * 26 + 1 + 12 * g + 2 * col + dx] = '#';
  CHECK(check_mask(&c, expected, white, "HT x2") == 0, "scaled text");
  segc_canvas_free(&c);

  CHECK(segc_text_width("HT", 2) == 24 && segc_text_height("HT", 2) == 20,
        "HT x2 is %dx%d", segc_text_width("HT", 2), segc_text_height("HT", 2));
  CHECK(segc_text_width("abc\nde", 1) == 18 && segc_text_height("abc\nde", 1) == 20,
        "two lines measure the longest line and both rows");

  // A byte outside ASCII draws as '?'.
  segc_canvas a, b;
  CHECK_OK(segc_canvas_init(&a, 6, 10, kBackground));
  CHECK_OK(segc_canvas_init(&b, 6, 10, kBackground));
  segc_canvas_text(&a, 0, 0, "\xe9", 1, white, 255);
  segc_canvas_text(&b, 0, 0, "?", 1, white, 255);
  CHECK(memcmp(a.pixels, b.pixels, 6 * 10 * 3) == 0, "non-ASCII draws '?'");
  segc_canvas_free(&a);
  segc_canvas_free(&b);

  // Every glyph but space has ink, keeps the free column and top row, and no
  // two glyphs are the same picture.
  int bad = 0;
  for (int g = 0; g < SEGC_FONT_GLYPHS; ++g) {
    int ink = 0;
    for (int row = 0; row < SEGC_FONT_HEIGHT; ++row) {
      ink += segc_font_glyphs[g][row] != 0;
      if ((segc_font_glyphs[g][row] & 1u) || (row == 0 && segc_font_glyphs[g][0]))
        bad++;
    }
    if ((g == 0) != (ink == 0)) bad++;
    for (int h = 0; h < g; ++h)
      if (!memcmp(segc_font_glyphs[g], segc_font_glyphs[h], SEGC_FONT_HEIGHT)) {
        fprintf(stderr, "glyphs '%c' and '%c' are identical\n", 32 + g, 32 + h);
        bad++;
      }
  }
  CHECK(bad == 0, "%d font table problems", bad);
  return 0;
}

// An independent reader: libpng's read side, its own setjmp.
static bool read_png(const char *path, int *width, int *height,
                     uint8_t **rgb) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  uint8_t *volatile pixels = NULL;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    free(pixels);
    return false;
  }
  png_init_io(png, f);
  png_read_info(png, info);
  const int w = (int)png_get_image_width(png, info);
  const int h = (int)png_get_image_height(png, info);
  const bool rgb8 = png_get_color_type(png, info) == PNG_COLOR_TYPE_RGB &&
                    png_get_bit_depth(png, info) == 8;
  if (!rgb8) png_error(png, "not 8-bit RGB");
  pixels = malloc((size_t)w * h * 3);
  if (!pixels) png_error(png, "out of memory");
  for (int y = 0; y < h; ++y) png_read_row(png, pixels + (size_t)y * w * 3, NULL);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  fclose(f);
  *width = w;
  *height = h;
  *rgb = pixels;
  return true;
}

static int test_png(const char *dir) {
  segc_canvas c;
  CHECK_OK(segc_canvas_init(&c, 7, 5, kBackground));
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      segc_canvas_blend(&c, x, y, segc_rgb_make((uint8_t)(x * 36), (uint8_t)(y * 60),
                                                (uint8_t)(x * y * 9)), 255);
  const char *path = test_path(dir, "round_trip.png");
  CHECK_OK(segc_canvas_write_png(&c, path));
  int w = 0, h = 0;
  uint8_t *rgb = NULL;
  CHECK(read_png(path, &w, &h, &rgb), "libpng reads %s back", path);
  CHECK(w == 7 && h == 5, "size %dx%d", w, h);
  if (rgb && w == 7 && h == 5)
    CHECK(memcmp(rgb, c.pixels, 7 * 5 * 3) == 0, "pixels survive the round trip");
  if (rgb && w == 7 && h == 5)
    CHECK(rgb[(4 * 7 + 6) * 3 + 0] == 216 && rgb[(4 * 7 + 6) * 3 + 1] == 240 &&
              rgb[(4 * 7 + 6) * 3 + 2] == 216,
          "pixel (6,4) is 216,240,216");
  free(rgb);
  char temp[4200];
  snprintf(temp, sizeof temp, "%s.tmp.%ld", path, (long)getpid());
  CHECK(access(temp, F_OK) != 0, "no temporary file left behind");

  // Overwriting an existing file works (rename over it).
  segc_canvas_fill_rect(&c, 0, 0, 7, 5, segc_rgb_make(1, 2, 3), 255);
  CHECK_OK(segc_canvas_write_png(&c, path));
  CHECK(read_png(path, &w, &h, &rgb) && rgb[0] == 1 && rgb[2] == 3,
        "the second write replaced the first");
  free(rgb);

  CHECK_FAILS(segc_canvas_write_png(&c, test_path(dir, "missing/x.png")),
              SEGC_ERR_IO, "folder does not exist");
  segc_canvas_free(&c);

  // libpng's own error path (longjmp back into the writer): a file size
  // limit makes its writes fail part way through a noisy picture.
  CHECK_OK(segc_canvas_init(&c, 300, 300, kBackground));
  for (int i = 0; i < 300 * 300 * 3; ++i)
    c.pixels[i] = (uint8_t)(segc_rng_uniform(3, 0, (uint64_t)i) * 256.0f);
  struct rlimit saved;
  CHECK(getrlimit(RLIMIT_FSIZE, &saved) == 0, "getrlimit");
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  void (*previous)(int) = signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of a kill
  CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0, "setrlimit");
  const char *big = test_path(dir, "too_big.png");
  CHECK_FAILS(segc_canvas_write_png(&c, big), SEGC_ERR_IO, "libpng failed");
  CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0, "restore the limit");
  signal(SIGXFSZ, previous);
  snprintf(temp, sizeof temp, "%s.tmp.%ld", big, (long)getpid());
  CHECK(access(big, F_OK) != 0 && access(temp, F_OK) != 0,
        "a failed write leaves neither the file nor its temporary");
  segc_canvas_free(&c);
  CHECK_FAILS(segc_canvas_write_png(&c, path), SEGC_ERR_INVALID, "empty");
  CHECK_FAILS(segc_canvas_init(&c, 0, 5, kBackground), SEGC_ERR_INVALID,
              "size 0x5");
  return 0;
}

int main(void) {
  const char *dir = test_temp_dir("image2d");
  if (test_rectangles() || test_lines() || test_text() || test_png(dir))
    return 1;  // a CHECK_OK stopped a part and said why
  return test_finish("image2d");
}
