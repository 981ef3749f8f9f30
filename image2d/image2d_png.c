// PNG output for segc_canvas through libpng. libpng reports errors by
// longjmp to the setjmp point of the write; everything that must survive the
// jump (the png and info structs, the file) is set before setjmp and never
// changed after it, and the per-row work happens in a separate function so no
// local of the function holding setjmp is modified between setjmp and the
// jump.
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "image2d/image2d.h"
#include "io/atomic_file.h"

typedef struct {
  char message[256];
} png_error_record;

static void on_png_error(png_structp png, png_const_charp message) {
  png_error_record *record = png_get_error_ptr(png);
  snprintf(record->message, sizeof record->message, "%s",
           message ? message : "unknown libpng error");
  png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;  // warnings (e.g. about chunks) do not make the file wrong
}

static void write_rows(png_structp png, png_infop info,
                       const segc_canvas *canvas) {
  png_set_IHDR(png, info, (png_uint_32)canvas->width,
               (png_uint_32)canvas->height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const size_t stride = (size_t)canvas->width * 3;
  for (int y = 0; y < canvas->height; ++y)
    png_write_row(png, canvas->pixels + (size_t)y * stride);
  png_write_end(png, NULL);
}

// Encodes the canvas into an open file. The error record lives in the
// caller, so nothing local here changes between setjmp and a longjmp.
static segc_status encode_png(FILE *file, const segc_canvas *canvas,
                              const char *path, png_error_record *record) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, record,
                                            on_png_error, on_png_warning);
  if (!png)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "png %s: cannot create the libpng writer",
                     path);
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    return SEGC_FAIL(SEGC_ERR_NOMEM, "png %s: cannot create the libpng info",
                     path);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return SEGC_FAIL(SEGC_ERR_IO, "png %s: libpng failed: %s", path,
                     record->message);
  }
  png_init_io(png, file);
  write_rows(png, info, canvas);
  png_destroy_write_struct(&png, &info);
  return SEGC_OK;
}

segc_status segc_canvas_write_png(const segc_canvas *canvas,
                                  const char *path) {
  if (!canvas || !canvas->pixels || canvas->width <= 0 || canvas->height <= 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "png %s: the canvas is empty",
                     path ? path : "(null)");
  if (!path || !*path)
    return SEGC_FAIL(SEGC_ERR_INVALID, "png: no output path given");
  segc_atomic_file file;
  segc_status status = segc_atomic_file_open(&file, path);
  if (status != SEGC_OK) {
    if (errno == ENOENT)
      return SEGC_FAIL(SEGC_ERR_IO, "png %s: the folder does not exist", path);
    return segc_fail_context(status, "png");
  }
  png_error_record record = {{0}};
  status = encode_png(file.file, canvas, path, &record);
  if (status == SEGC_OK && (fflush(file.file) != 0 || ferror(file.file)))
    status = SEGC_FAIL(SEGC_ERR_IO, "png %s: write failed: %s", path,
                       strerror(errno));
  if (status == SEGC_OK) status = segc_atomic_file_commit(&file);
  segc_atomic_file_abort(&file);  // after a failure: removes the temporary
  return status;
}
