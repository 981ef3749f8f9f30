// seginfer's checks around its outputs (issue 9), end to end with a small
// random network on small CTs crafted here (no ../shared needed):
// - no output may replace an input: -o the input itself, a symlink or a hard
//   link to it, another spelling of its path, the case output of several
//   inputs, the sidecar, the statistics, a --split mask, --preview, --report
//   and --save-preprocessed; each refusal is one error line, exit 1, and
//   leaves the input and its folder as they were;
// - a `labels` file that does not exist is an error naming it (the default
//   one may be absent: the built-in names serve);
// - every output location is checked before any work: --report or
//   --preview into a missing folder leaves nothing behind and the message
//   names the user's path, not a temporary one;
// - the label keeps the input's qform and sform as the input had them
//   (codes, quaternion, offsets, qfac, srow), also when only one is set.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "data/json_file.h"
#include "seginfer_test_support.h"  // before nifti2_io.h: <dirent.h> first
#include <nifti2_io.h>
#include "util/test_util.h"

static char temp[1024], build[4096], weights[2048];

enum { kNx = 24, kNy = 20, kNz = 12 };

// The header fields that place the voxels in the world.
typedef struct {
  int qform_code, sform_code;
  float quatern[3], qoffset[3], qfac;
  float srow[3][4];
} xforms;

// Both set, and different from each other: the qform an oblique rotation
// with qfac -1, the sform an axis-aligned LPS grid.
static const xforms kBoth = {1, 2, {0.1f, -0.2f, 0.3f}, {41.5f, 29.25f, -19.75f},
                             -1.0f, {{-3, 0, 0, 40}, {0, -3, 0, 30}, {0, 0, 3, -20}}};
static const xforms kQformOnly = {1, 0, {0.05f, 0.1f, -0.15f}, {-12.5f, 7.0f, 3.25f},
                                  1.0f, {{0}}};
static const xforms kSformOnly = {0, 4, {0}, {0}, 1.0f,
                                  {{3, 0, 0, -35.5f}, {0, 0, 3, -12}, {0, -3, 0, 50}}};
static const xforms kNeither = {0, 0, {0}, {0}, 1.0f, {{0}}};

// A plain .nii int16 CT: air around a soft-tissue block with a denser core.
static bool write_ct(const char *path, const xforms *x) {
  nifti_1_header h;
  memset(&h, 0, sizeof h);
  h.sizeof_hdr = 348;
  h.dim[0] = 3;
  h.dim[1] = kNx;
  h.dim[2] = kNy;
  h.dim[3] = kNz;
  for (int d = 4; d < 8; ++d) h.dim[d] = 1;
  h.datatype = NIFTI_TYPE_INT16;
  h.bitpix = 16;
  h.pixdim[0] = x->qfac;
  for (int d = 1; d < 8; ++d) h.pixdim[d] = d <= 3 ? 3.0f : 1.0f;
  h.vox_offset = 352;
  h.scl_slope = 1.0f;
  h.xyzt_units = NIFTI_UNITS_MM;
  h.qform_code = (short)x->qform_code;
  h.sform_code = (short)x->sform_code;
  h.quatern_b = x->quatern[0];
  h.quatern_c = x->quatern[1];
  h.quatern_d = x->quatern[2];
  h.qoffset_x = x->qoffset[0];
  h.qoffset_y = x->qoffset[1];
  h.qoffset_z = x->qoffset[2];
  memcpy(h.srow_x, x->srow[0], sizeof h.srow_x);
  memcpy(h.srow_y, x->srow[1], sizeof h.srow_y);
  memcpy(h.srow_z, x->srow[2], sizeof h.srow_z);
  memcpy(h.magic, "n+1\0", 4);
  static int16_t voxels[kNz][kNy][kNx];  // file order: i fastest
  for (int k = 0; k < kNz; ++k)
    for (int j = 0; j < kNy; ++j)
      for (int i = 0; i < kNx; ++i) {
        const bool body = i > 3 && i < kNx - 4 && j > 3 && j < kNy - 4;
        const bool core = body && i > 9 && i < 15 && j > 7 && j < 12;
        voxels[k][j][i] = (int16_t)(core ? 300 + 7 * k : body ? 40 + (i * j) % 23 : -1000);
      }
  const uint8_t extension[4] = {0, 0, 0, 0};
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  const bool written = fwrite(&h, sizeof h, 1, f) == 1 &&
                       fwrite(extension, 4, 1, f) == 1 &&
                       fwrite(voxels, sizeof voxels, 1, f) == 1;
  return fclose(f) == 0 && written;
}

// The first 348 bytes of a .nii or .nii.gz (gzread reads both).
static bool read_header(const char *path, nifti_1_header *h) {
  gzFile f = gzopen(path, "rb");
  if (!f) return false;
  const int got = gzread(f, h, sizeof *h);
  gzclose(f);
  return got == (int)sizeof *h && h->sizeof_hdr == 348;
}

// The placement fields of `out` equal those of `in`, or a message saying
// which differ.
static bool same_xforms(const nifti_1_header *in, const nifti_1_header *out,
                        char *why, size_t size) {
  why[0] = '\0';
  if (in->qform_code != out->qform_code || in->sform_code != out->sform_code)
    snprintf(why, size, "codes qform %d sform %d, input %d %d", out->qform_code,
             out->sform_code, in->qform_code, in->sform_code);
  else if (in->quatern_b != out->quatern_b || in->quatern_c != out->quatern_c ||
           in->quatern_d != out->quatern_d)
    snprintf(why, size, "quatern %g %g %g, input %g %g %g", out->quatern_b,
             out->quatern_c, out->quatern_d, in->quatern_b, in->quatern_c,
             in->quatern_d);
  else if (in->qoffset_x != out->qoffset_x || in->qoffset_y != out->qoffset_y ||
           in->qoffset_z != out->qoffset_z)
    snprintf(why, size, "qoffset %g %g %g, input %g %g %g", out->qoffset_x,
             out->qoffset_y, out->qoffset_z, in->qoffset_x, in->qoffset_y,
             in->qoffset_z);
  else if (memcmp(in->pixdim, out->pixdim, 4 * sizeof in->pixdim[0]) != 0)
    snprintf(why, size, "pixdim %g %g %g %g, input %g %g %g %g", out->pixdim[0],
             out->pixdim[1], out->pixdim[2], out->pixdim[3], in->pixdim[0],
             in->pixdim[1], in->pixdim[2], in->pixdim[3]);
  else if (memcmp(in->srow_x, out->srow_x, sizeof in->srow_x) != 0 ||
           memcmp(in->srow_y, out->srow_y, sizeof in->srow_y) != 0 ||
           memcmp(in->srow_z, out->srow_z, sizeof in->srow_z) != 0)
    snprintf(why, size, "srow_x %g %g %g %g, input %g %g %g %g", out->srow_x[0],
             out->srow_x[1], out->srow_x[2], out->srow_x[3], in->srow_x[0],
             in->srow_x[1], in->srow_x[2], in->srow_x[3]);
  return why[0] == '\0';
}

static int run(const char *args) {
  char command[16384];
  snprintf(command, sizeof command,
           "%s/bin/seginfer --weights %s --lowres --dtype f32 --quiet "
           "--set 'sw_roi=[32,32,32]' %s", build, weights, args);
  return support_run(temp, command);
}

static int lines_of(const char *text) {
  int lines = 0;
  for (const char *p = text; *p; ++p) lines += *p == '\n';
  return lines;
}

// Runs and expects exit 1 with one "seginfer: error:" line containing
// `needle`, and `folder` holding `entries` entries afterwards.
static void expect_refusal(const char *args, const char *needle,
                           const char *folder, int entries) {
  const int rc = run(args);
  CHECK(rc == 1 && lines_of(support_err) == 1 &&
            !strncmp(support_err, "seginfer: error: ", 17) &&
            test_contains(support_err, needle),
        "'%s': exit %d, stderr '%s' (wanted one error line with '%s')", args,
        rc, support_err, needle);
  CHECK(support_count_entries(folder) == entries,
        "'%s': %s holds %d entries, wanted %d", args, folder,
        support_count_entries(folder), entries);
}

// The whole file, malloc'ed (NULL when it cannot be read).
static char *slurp(const char *path, long *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *bytes = NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (*size = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (bytes = malloc((size_t)*size + 1)) &&
      fread(bytes, 1, (size_t)*size, f) != (size_t)*size) {
    free(bytes);
    bytes = NULL;
  }
  fclose(f);
  return bytes;
}

static bool file_is(const char *path, const char *bytes, long size) {
  long got = -1;
  char *now = slurp(path, &got);
  const bool same = now && got == size && memcmp(now, bytes, (size_t)size) == 0;
  free(now);
  return same;
}

// Defect 1: no output path may resolve to an input.
static int test_overwrite_input(void) {
  char g[1100], path[1300], args[8192];
  snprintf(g, sizeof g, "%s/same", temp);
  CHECK(mkdir(g, 0755) == 0, "mkdir %s", g);
  snprintf(path, sizeof path, "%s/ct.nii", g);
  CHECK(write_ct(path, &kBoth), "write %s", path);
  long size = 0;
  char *original = slurp(path, &size);
  CHECK(original != NULL, "read %s", path);
  if (!original) return 1;
  // Other names of the same file.
  const char *links[3][2] = {{"link.nii", "ct.nii"},
                             {"lab.json", "ct.nii"},
                             {"st_stats.csv", "ct.nii"}};
  for (int l = 0; l < 3; ++l) {
    snprintf(path, sizeof path, "%s/%s", g, links[l][0]);
    CHECK(symlink(links[l][1], path) == 0, "symlink %s", path);
  }
  char ct[1200], hard[1200];
  snprintf(ct, sizeof ct, "%s/ct.nii", g);
  snprintf(hard, sizeof hard, "%s/hard.nii", g);
  CHECK(link(ct, hard) == 0, "link %s", hard);
  const int entries = 5;

  snprintf(args, sizeof args, "-i %s -o %s", ct, ct);
  expect_refusal(args, "input", g, entries);
  snprintf(args, sizeof args, "-i %s -o %s/link.nii", ct, g);
  expect_refusal(args, "link.nii", g, entries);
  snprintf(args, sizeof args, "-i %s -o %s", ct, hard);
  expect_refusal(args, "hard.nii", g, entries);
  snprintf(args, sizeof args, "-i %s -o %s/../same/ct.nii", ct, g);
  expect_refusal(args, "same/ct.nii", g, entries);
  snprintf(args, sizeof args, "-i %s/link.nii -o %s", g, ct);
  expect_refusal(args, "input", g, entries);
  // The sidecar (lab.json beside lab.nii) and the statistics.
  snprintf(args, sizeof args, "-i %s/lab.json -o %s/lab.nii", g, g);
  expect_refusal(args, "lab.json", g, entries);
  snprintf(args, sizeof args, "-i %s/st_stats.csv -o %s/st.nii --stats", g, g);
  expect_refusal(args, "st_stats.csv", g, entries);
  // --preview, --report, --save-preprocessed.
  snprintf(args, sizeof args, "-i %s -o %s/p.nii.gz --preview %s/link.nii", ct, g, g);
  expect_refusal(args, "--preview", g, entries);
  snprintf(args, sizeof args, "-i %s -o %s/p.nii.gz --report %s", ct, g, hard);
  expect_refusal(args, "--report", g, entries);
  snprintf(args, sizeof args, "-i %s -o %s/p.nii.gz --save-preprocessed %s", ct, g, ct);
  expect_refusal(args, "--save-preprocessed", g, entries);
  CHECK(file_is(ct, original, size), "%s was changed", ct);

  // A --split mask named like an input inside the folder.
  char sp[1100], mask[1200];
  snprintf(sp, sizeof sp, "%s/sp", temp);
  CHECK(mkdir(sp, 0755) == 0, "mkdir %s", sp);
  snprintf(mask, sizeof mask, "%s/liver.nii.gz", sp);
  CHECK(write_ct(mask, &kBoth), "write %s", mask);
  snprintf(args, sizeof args, "-i %s -o %s --split --roi liver", mask, sp);
  expect_refusal(args, "liver.nii.gz", sp, 1);
  CHECK(file_is(mask, original, size), "%s was changed", mask);
  // An input in the folder that no output replaces is fine.
  snprintf(args, sizeof args, "-i %s -o %s --split --roi spleen", mask, sp);
  CHECK(run(args) == 0, "--split beside an input: %s", support_err);
  CHECK(file_is(mask, original, size) && support_count_entries(sp) == 3,
        "%s: the input and spleen.nii.gz + segmentation.json, got %d entries",
        sp, support_count_entries(sp));

  // Several inputs: FOLDER/<case>/<case>.nii.gz (no postfix) is an input.
  char many[1100], inner[1200];
  snprintf(many, sizeof many, "%s/many", temp);
  snprintf(path, sizeof path, "%s/many/ct", temp);
  CHECK(mkdir(many, 0755) == 0 && mkdir(path, 0755) == 0, "mkdir %s", path);
  snprintf(inner, sizeof inner, "%s/many/ct/ct.nii.gz", temp);
  CHECK(write_ct(inner, &kBoth), "write %s", inner);
  snprintf(args, sizeof args, "-i %s -i %s/link.nii -o %s --set output_postfix=",
           inner, g, many);
  expect_refusal(args, "many/ct/ct.nii.gz", path, 1);
  CHECK(file_is(inner, original, size), "%s was changed", inner);
  CHECK(support_count_entries(many) == 1, "%s: only ct/ is left", many);
  free(original);
  return 0;
}

// Defect 5: a `labels` file that is not there.
static int test_labels(void) {
  char dir[1100], args[8192], command[16384];
  snprintf(dir, sizeof dir, "%s/lab", temp);
  CHECK(mkdir(dir, 0755) == 0, "mkdir %s", dir);
  snprintf(args, sizeof args, "--set labels=%s/missing_labels.json --list-structures", temp);
  expect_refusal(args, "missing_labels.json", dir, 0);
  snprintf(args, sizeof args, "--set labels=%s/missing_labels.json -i %s/ct.nii -o %s/x.nii.gz",
           temp, temp, dir);
  expect_refusal(args, "missing_labels.json", dir, 0);
  snprintf(args, sizeof args, "--set labels=%s -i %s/ct.nii -o %s/x.nii.gz", dir, temp, dir);
  expect_refusal(args, dir, dir, 0);
  // The default labels file is optional: from a folder without configs/ the
  // built-in bundle names serve.
  snprintf(command, sizeof command, "cd %s && %s/bin/seginfer --weights %s --list-structures",
           dir, build, weights);
  const int rc = support_run(temp, command);
  CHECK(rc == 0 && lines_of(support_out) == 105 && test_contains(support_out, "5 liver\n"),
        "default labels from another folder: exit %d, %d lines, '%s'", rc,
        lines_of(support_out), support_err);
  return 0;
}

// Defect 9: every output location is checked before the work starts.
static int test_output_locations(void) {
  char r[1100], args[8192];
  snprintf(r, sizeof r, "%s/late", temp);
  CHECK(mkdir(r, 0755) == 0, "mkdir %s", r);
  const char *kinds[3][2] = {{"--report", "r.json"},
                             {"--preview", "p.png"},
                             {"--save-preprocessed", "pre.nii.gz"}};
  for (int k = 0; k < 3; ++k) {
    char wanted[1300];
    snprintf(wanted, sizeof wanted, "%s/missing/%s", r, kinds[k][1]);
    snprintf(args, sizeof args, "-i %s/ct.nii -o %s/x.nii.gz %s %s", temp, r,
             kinds[k][0], wanted);
    expect_refusal(args, wanted, r, 0);
    CHECK(!test_contains(support_err, ".tmp") && !test_contains(support_err, "segc-tmp"),
          "%s: the message names a temporary file: %s", kinds[k][0], support_err);
  }
  snprintf(args, sizeof args, "-i %s/ct.nii -o %s/missing/x.nii.gz --stats", temp, r);
  expect_refusal(args, "late/missing/x.nii.gz", r, 0);
  // Several inputs: the output folder is not even made.
  snprintf(args, sizeof args, "-i %s/ct.nii -i %s/same/link.nii -o %s/many "
           "--report %s/missing/r.json", temp, temp, r, r);
  expect_refusal(args, "late/missing/r.json", r, 0);
  snprintf(args, sizeof args, "-i %s/ct.nii -o %s/x.nii.gz --report %s", temp, r, r);
  expect_refusal(args, "--report", r, 0);
  // Two outputs of one run on one path: the later would replace the first.
  snprintf(args, sizeof args, "-i %s/ct.nii -o %s/x.nii.gz --report %s/../late/x.nii.gz",
           temp, r, r);
  expect_refusal(args, "also where -o writes", r, 0);
  snprintf(args, sizeof args, "-i %s/ct.nii -o %s/x.nii.gz --stats --preview %s/x.json",
           temp, r, r);
  expect_refusal(args, "also where -o writes", r, 0);
  // A JSON write that fails names the file asked for.
  cJSON *root = cJSON_CreateObject();
  char path[4096];
  snprintf(path, sizeof path, "%s/missing/r.json", r);
  CHECK_FAILS(segc_data_json_save(root, path), SEGC_ERR_IO, path);
  CHECK(!test_contains(segc_error_message(), ".tmp"), "message names a "
        "temporary file: %s", segc_error_message());
  cJSON_Delete(root);
  return 0;
}

// Defect 11: qform and sform kept as the input had them.
static int test_xforms(void) {
  const char *names[4] = {"both", "qonly", "sonly", "neither"};
  const xforms *cases[4] = {&kBoth, &kQformOnly, &kSformOnly, &kNeither};
  char dir[1100], path[1300], args[8192];
  snprintf(dir, sizeof dir, "%s/xf", temp);
  CHECK(mkdir(dir, 0755) == 0, "mkdir %s", dir);
  int n = 0;
  for (int c = 0; c < 4; ++c) {
    snprintf(path, sizeof path, "%s/%s.nii", dir, names[c]);
    CHECK(write_ct(path, cases[c]), "write %s", path);
    n += snprintf(args + n, sizeof args - (size_t)n, "-i %s ", path);
  }
  // The report goes into the output folder the run creates.
  snprintf(args + n, sizeof args - (size_t)n, "-o %s/out --report %s/out/report.json",
           dir, dir);
  CHECK(run(args) == 0, "seginfer on 4 inputs: %s", support_err);
  snprintf(path, sizeof path, "%s/out/report.json", dir);
  CHECK(support_exists(path), "report %s", path);
  for (int c = 0; c < 4; ++c) {
    nifti_1_header in, out;
    char why[512];
    snprintf(path, sizeof path, "%s/%s.nii", dir, names[c]);
    CHECK(read_header(path, &in), "read %s", path);
    snprintf(path, sizeof path, "%s/out/%s/%s_trans.nii.gz", dir, names[c], names[c]);
    CHECK(read_header(path, &out), "read %s", path);
    CHECK(same_xforms(&in, &out, why, sizeof why), "%s: %s", names[c], why);
  }
  // --split masks too.
  snprintf(args, sizeof args, "-i %s/both.nii -o %s/split --split --roi liver", dir, dir);
  CHECK(run(args) == 0, "--split: %s", support_err);
  nifti_1_header in, out;
  char why[512];
  snprintf(path, sizeof path, "%s/both.nii", dir);
  CHECK(read_header(path, &in), "read %s", path);
  snprintf(path, sizeof path, "%s/split/liver.nii.gz", dir);
  CHECK(read_header(path, &out), "read %s", path);
  CHECK(same_xforms(&in, &out, why, sizeof why), "split mask: %s", why);
  return 0;
}

// The pid of a process that has ended (a child that exits at once).
static long dead_pid(void) {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  int status;
  if (child < 0 || waitpid(child, &status, 0) != child) return -1;
  return (long)child;
}

static bool write_bytes(const char *path, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return false;
  bool ok = true;
  for (size_t i = 0; i < n && ok; ++i) ok = fputc('x', f) != EOF;
  return fclose(f) == 0 && ok;
}

// Staged outputs a killed seginfer left are removed by the next run in that
// folder; those of a live process stay.
static int test_stale_staging(void) {
  char dir[1100], dead[1400], live[1400], args[8192];
  snprintf(dir, sizeof dir, "%s/stale", temp);
  CHECK(mkdir(dir, 0755) == 0, "mkdir %s", dir);
  const long pid = dead_pid();
  CHECK(pid > 0, "fork a child to get a dead pid");
  snprintf(dead, sizeof dead, "%s/.segc-tmp.%ld.seg.nii.gz", dir, pid);
  snprintf(live, sizeof live, "%s/.segc-tmp.%ld.seg.nii.gz", dir, (long)getpid());
  CHECK(write_bytes(dead, 1000) && write_bytes(live, 10), "write %s", dead);
  snprintf(args, sizeof args, "-i %s/ct.nii -o %s/seg.nii.gz", temp, dir);
  CHECK(run(args) == 0, "seginfer with stale staging: %s", support_err);
  CHECK(!support_exists(dead), "a dead run's staged output is removed");
  CHECK(support_exists(live), "a live process's staged output stays");
  CHECK(test_contains(support_err, "removed 1 temporary file"),
        "the removal is said: '%s'", support_err);
  return 0;
}

int main(void) {
  snprintf(temp, sizeof temp, "%s", test_temp_dir("seginfer_outputs_guard"));
  const char *from_env = getenv("SEGC_BUILD_DIR");
  if (!realpath(from_env && *from_env ? from_env : "build", build)) {
    fprintf(stderr, "seginfer_outputs_guard: no build folder\n");
    return 1;
  }
  snprintf(weights, sizeof weights, "%s/w8.pt", temp);
  CHECK_OK(support_make_weights(weights, 8, 20261206));
  char ct[4096];
  snprintf(ct, sizeof ct, "%s/ct.nii", temp);
  CHECK(write_ct(ct, &kBoth), "write %s", ct);
  if (test_overwrite_input()) return test_finish_failed();
  if (test_labels()) return test_finish_failed();
  if (test_output_locations()) return test_finish_failed();
  if (test_xforms()) return test_finish_failed();
  if (test_stale_staging()) return test_finish_failed();
  if (test_failures == 0) {
    char command[4096];
    snprintf(command, sizeof command, "rm -rf %s", temp);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", temp);
  }
  return test_finish("seginfer_outputs_guard");
}
