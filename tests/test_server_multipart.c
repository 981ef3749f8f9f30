// segserve's multipart/form-data parser (server/multipart.c): the same body
// cut into chunks at every position gives the same parts; file parts land
// in temporary files that are removed; a body cut before its closing
// boundary, a part without a name and an oversized field are refused.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/multipart.h"
#include "util/test_util.h"

static char folder[4096];

static int entries(void) {
  DIR *dir = opendir(folder);
  if (!dir) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(dir)) != NULL;)
    n += e->d_name[0] != '.';
  closedir(dir);
  return n;
}

// The file part holds bytes that look like the start of a delimiter.
static const char kFile[] = "\x1f\x8b\0\r\n--BOUNDAR\r\n-\r\n-x--BOUNDARY\r\n\0end";
static size_t make_body(char *out, bool close) {
  size_t n = 0;
  n += (size_t)sprintf(out + n, "preamble to ignore\r\n--BOUNDARY\r\n"
                       "Content-Disposition: form-data; name=\"params\"\r\n\r\n"
                       "{\"a\": 1}\r\n--BOUNDARY\r\n"
                       "Content-Disposition: form-data; name=\"files\"; filename=\"ct.nii.gz\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n");
  memcpy(out + n, kFile, sizeof kFile - 1);
  n += sizeof kFile - 1;
  n += (size_t)sprintf(out + n, close ? "\r\n--BOUNDARY--\r\n" : "\r\n--BOUNDARY\r\n");
  return n;
}

static bool file_equals(const char *path, const char *bytes, size_t size) {
  char buffer[256];
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  const size_t n = fread(buffer, 1, sizeof buffer, f);
  fclose(f);
  return n == size && !memcmp(buffer, bytes, size);
}

static void test_every_split(void) {
  char body[1024];
  const size_t size = make_body(body, true);
  int bad = 0;
  for (size_t cut = 0; cut <= size; ++cut) {
    for (int bytewise = 0; bytewise < (cut == 0 ? 2 : 1); ++bytewise) {
      multipart_parser p;
      multipart_init(&p, "BOUNDARY", folder);
      bool ok = true;
      if (bytewise) {
        for (size_t i = 0; i < size && ok; ++i) ok = multipart_feed(&p, body + i, 1);
      } else {
        ok = multipart_feed(&p, body, cut) && multipart_feed(&p, body + cut, size - cut);
      }
      ok = ok && multipart_finish(&p);
      multipart_part *params = multipart_find(&p, "params");
      multipart_part *file = multipart_find(&p, "files");
      if (!ok || !params || !file || params->is_file || strcmp(params->value, "{\"a\": 1}") ||
          !file->is_file || strcmp(file->filename, "ct.nii.gz") ||
          file->size != (int64_t)sizeof kFile - 1 ||
          !file_equals(file->path, kFile, sizeof kFile - 1)) {
        if (bad++ < 3) fprintf(stderr, "split at %zu (bytewise %d): %s\n", cut, bytewise, p.error);
      }
      multipart_free(&p);
    }
  }
  CHECK(bad == 0, "%d splits gave other parts", bad);
  CHECK(entries() == 0, "temporary files removed: %d left", entries());
}

static void expect_refused(const char *body, size_t size, int status, const char *needle) {
  multipart_parser p;
  multipart_init(&p, "BOUNDARY", folder);
  const bool ok = multipart_feed(&p, body, size) && multipart_finish(&p);
  CHECK(!ok && p.error_status == status && test_contains(p.error, needle),
        "wanted %d '%s', got %d '%s'", status, needle, p.error_status, p.error);
  multipart_free(&p);
  CHECK(entries() == 0, "temporary files removed after '%s': %d left", needle, entries());
}

static void test_refusals(void) {
  char body[1024];
  const size_t size = make_body(body, true);
  expect_refused(body, size - 4, 400, "truncated");
  const size_t open_size = make_body(body, false);
  expect_refused(body, open_size, 400, "truncated");
  expect_refused(body, 40, 400, "truncated");
  const char nameless[] = "--BOUNDARY\r\nContent-Disposition: form-data\r\n\r\nx\r\n--BOUNDARY--\r\n";
  expect_refused(nameless, sizeof nameless - 1, 400, "no name");
  const char no_disposition[] = "--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nx\r\n--BOUNDARY--\r\n";
  expect_refused(no_disposition, sizeof no_disposition - 1, 400, "Content-Disposition");
  const char bad_line[] = "--BOUNDARY\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--BOUNDARYxx";
  expect_refused(bad_line, sizeof bad_line - 1, 400, "bad boundary line");
  // A field over 1 MiB (fields are kept in memory).
  const size_t big = (1u << 20) + 10;
  char *huge = malloc(big + 200);
  if (!huge) return;
  size_t n = (size_t)sprintf(huge, "--BOUNDARY\r\nContent-Disposition: form-data; name=\"params\"\r\n\r\n");
  memset(huge + n, 'x', big);
  n += big;
  n += (size_t)sprintf(huge + n, "\r\n--BOUNDARY--\r\n");
  expect_refused(huge, n, 413, "1 MiB");
  free(huge);
}

static void test_boundary(void) {
  char b[80];
  CHECK(multipart_boundary("multipart/form-data; boundary=abc", b, sizeof b) && !strcmp(b, "abc"),
        "plain boundary");
  CHECK(multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b;c\"", b, sizeof b) &&
            !strcmp(b, "a b;c"), "quoted boundary after another parameter: %s", b);
  CHECK(multipart_boundary("multipart/form-data; boundary=----------lImIt_of_THE_fIle_eW_$; x=1",
                           b, sizeof b) && !strcmp(b, "----------lImIt_of_THE_fIle_eW_$"),
        "MONAI Label client's boundary: %s", b);
  CHECK(!multipart_boundary("application/json", b, sizeof b), "not multipart");
  CHECK(!multipart_boundary("multipart/form-data", b, sizeof b), "no boundary");
  char long_type[200];
  snprintf(long_type, sizeof long_type, "multipart/form-data; boundary=%071d", 0);
  CHECK(!multipart_boundary(long_type, b, sizeof b), "a boundary over 70 characters");
}

int main(void) {
  snprintf(folder, sizeof folder, "%s", test_temp_dir("server_multipart"));
  test_boundary();
  test_every_split();
  test_refusals();
  if (test_failures == 0) remove(folder);
  return test_finish("server_multipart");
}
