// Merging per-structure masks into one label map: the real example label
// split into masks and merged back, the overlap rule and its report, grid
// mismatches, unknown names, custom tables and the --dataset layout.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/datalist.h"
#include "data/label_merge.h"
#include "data/labels.h"
#include "data/nifti_io.h"
#include "util/test_util.h"

static void make_dir(const char *path) {
  if (mkdir(path, 0777) != 0) {
    perror(path);
    exit(1);
  }
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static const int64_t small_dim[3] = {10, 12, 14};

// A flipped, shifted, anisotropic grid so that affines are not trivial.
static void small_affine(double affine[4][4]) {
  memset(affine, 0, 16 * sizeof(double));
  affine[0][0] = -1.5;
  affine[1][1] = 2.0;
  affine[2][2] = 2.5;
  affine[0][3] = 10.0;
  affine[1][3] = -20.0;
  affine[2][3] = 30.0;
  affine[3][3] = 1.0;
}

typedef struct {
  int64_t lo[3], hi[3];  // inclusive
} box;

static bool in_box(const box *b, int64_t i, int64_t j, int64_t k) {
  return i >= b->lo[0] && i <= b->hi[0] && j >= b->lo[1] && j <= b->hi[1] &&
         k >= b->lo[2] && k <= b->hi[2];
}

// Writes dir/name.nii.gz: `on` inside the box, `off` elsewhere, as dtype.
static segc_status write_box_mask(const char *dir, const char *name,
                                  segc_dtype dtype, const int64_t dim[3],
                                  const double affine[4][4], const box *b,
                                  float on, float off) {
  segc_volume f;
  SEGC_TRY(segc_volume_alloc(&f, SEGC_F32, dim));
  memcpy(f.affine, affine, sizeof f.affine);
  float *v = f.data;
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j)
      for (int64_t k = 0; k < dim[2]; ++k)
        v[segc_volume_offset(&f, i, j, k)] = in_box(b, i, j, k) ? on : off;
  segc_volume typed;
  segc_status s = segc_volume_copy(&f, dtype, &typed);
  segc_volume_free(&f);
  if (s != SEGC_OK) return s;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.nii.gz", dir, name);
  s = segc_nifti_write(path, &typed, NULL);
  segc_volume_free(&typed);
  return s;
}

static int test_split_and_merge_example(void) {
  const char *shared = test_shared_dir("label_merge");
  if (!shared) return 0;
  char path[4096];
  snprintf(path, sizeof path, "%s/data/example_ct_label104.nii.gz", shared);
  segc_volume original;
  CHECK_OK(segc_nifti_read(path, &original, NULL));
  segc_label_table labels;
  CHECK_OK(segc_labels_bundle(&labels));
  const char *dir = test_temp_dir("label_merge_example");
  const int64_t n = segc_volume_numel(&original);
  const uint8_t *l = original.data;
  int64_t counts[256] = {0};
  for (int64_t v = 0; v < n; ++v) counts[l[v]]++;
  int present = 0;
  for (int c = 1; c < labels.count; ++c) {
    if (counts[c] == 0) continue;
    ++present;
    // Every third class as a float mask, as TotalSegmentator's float64 ones.
    const segc_dtype dtype = present % 3 == 0 ? SEGC_F32 : SEGC_U8;
    segc_volume mask;
    CHECK_OK(segc_volume_alloc(&mask, dtype, original.dim));
    memcpy(mask.affine, original.affine, sizeof mask.affine);
    for (int64_t v = 0; v < n; ++v) {
      if (l[v] != c) continue;
      if (dtype == SEGC_F32)
        ((float *)mask.data)[v] = 1.0f;
      else
        ((uint8_t *)mask.data)[v] = 1;
    }
    snprintf(path, sizeof path, "%s/%s.nii.gz", dir, labels.names[c]);
    CHECK_OK(segc_nifti_write(path, &mask, NULL));
    segc_volume_free(&mask);
  }
  // TotalSegmentator's extra lung_vessels task output is not a bundle class.
  const box nothing = {{1, 1, 1}, {0, 0, 0}};
  CHECK_OK(write_box_mask(dir, "lung_vessels", SEGC_U8, original.dim,
                          original.affine, &nothing, 1, 0));
  segc_volume merged;
  segc_merge_report report;
  CHECK_OK(segc_merge_masks(dir, &labels, false, &merged, NULL, &report));
  CHECK(merged.dtype == SEGC_U8 && merged.dim[0] == original.dim[0] &&
            merged.dim[1] == original.dim[1] && merged.dim[2] == original.dim[2],
        "merged grid");
  CHECK(memcmp(merged.data, original.data, (size_t)n) == 0,
        "merged voxels equal the original label");
  CHECK(report.masks_merged == present && report.classes_present == present,
        "%lld masks, %d classes, %d expected", (long long)report.masks_merged,
        report.classes_present, present);
  CHECK(report.overlap_count == 0 && report.overlap_voxels == 0, "no overlap");
  CHECK(report.unknown_count == 1 && !strcmp(report.unknown[0], "lung_vessels"),
        "lung_vessels listed as unknown");
  for (int c = 0; c < labels.count; ++c)
    CHECK(report.class_voxels[c] == counts[c], "class %d count", c);
  printf("label_merge: example split into %d masks and merged back\n", present);
  segc_merge_report_free(&report);
  segc_volume_free(&merged);
  segc_volume_free(&original);
  segc_labels_free(&labels);
  return 0;
}

static int test_overlap_rule(void) {
  const char *dir = test_temp_dir("label_merge_overlap");
  double affine[4][4];
  small_affine(affine);
  // spleen 1 (u8), kidney_left 3 (i16), liver 5 (f32 with 0.4 and 0.6).
  const box boxes[3] = {{{1, 1, 1}, {5, 6, 7}},
                        {{4, 0, 6}, {9, 5, 13}},
                        {{3, 4, 5}, {8, 10, 12}}};
  const int classes[3] = {1, 3, 5};
  CHECK_OK(write_box_mask(dir, "spleen", SEGC_U8, small_dim, affine, &boxes[0],
                          1, 0));
  CHECK_OK(write_box_mask(dir, "kidney_left", SEGC_I16, small_dim, affine,
                          &boxes[1], 1, 0));
  // 0.6 inside (in the mask), 0.4 outside (not): the 0.5 threshold.
  CHECK_OK(write_box_mask(dir, "liver", SEGC_F32, small_dim, affine, &boxes[2],
                          0.6f, 0.4f));
  segc_label_table labels;
  CHECK_OK(segc_labels_bundle(&labels));
  segc_volume merged;
  segc_merge_report report;
  CHECK_OK(segc_merge_masks(dir, &labels, false, &merged, NULL, &report));

  // Reference: the highest claiming class wins; each pair of consecutive
  // claimants (sorted by class) counts one overlapping voxel.
  int64_t pairs[6][6] = {{0}};
  int64_t wrong = 0;
  const uint8_t *m = merged.data;
  for (int64_t i = 0; i < small_dim[0]; ++i)
    for (int64_t j = 0; j < small_dim[1]; ++j)
      for (int64_t k = 0; k < small_dim[2]; ++k) {
        int claimants[3], count = 0;
        for (int b = 0; b < 3; ++b)
          if (in_box(&boxes[b], i, j, k)) claimants[count++] = classes[b];
        const int expected = count ? claimants[count - 1] : 0;
        for (int c = 1; c < count; ++c) pairs[claimants[c - 1]][claimants[c]]++;
        wrong += m[segc_volume_offset(&merged, i, j, k)] != expected;
      }
  CHECK(wrong == 0, "%lld voxels break the higher-index rule", (long long)wrong);
  int64_t expected_pairs = 0, expected_voxels = 0;
  for (int a = 0; a < 6; ++a)
    for (int b = 0; b < 6; ++b)
      if (pairs[a][b]) {
        ++expected_pairs;
        expected_voxels += pairs[a][b];
        bool found = false;
        for (int64_t o = 0; o < report.overlap_count; ++o)
          if (report.overlaps[o].lower == a && report.overlaps[o].higher == b) {
            found = true;
            CHECK(report.overlaps[o].voxels == pairs[a][b],
                  "pair (%d, %d): %lld voxels, expected %lld", a, b,
                  (long long)report.overlaps[o].voxels, (long long)pairs[a][b]);
          }
        CHECK(found, "pair (%d, %d) reported", a, b);
      }
  CHECK(report.overlap_count == expected_pairs && expected_pairs == 3,
        "%lld pairs reported, %lld expected", (long long)report.overlap_count,
        (long long)expected_pairs);
  CHECK(report.overlap_voxels == expected_voxels, "overlap voxels %lld vs %lld",
        (long long)report.overlap_voxels, (long long)expected_voxels);
  for (int64_t o = 1; o < report.overlap_count; ++o)
    CHECK(report.overlaps[o - 1].lower < report.overlaps[o].lower ||
              (report.overlaps[o - 1].lower == report.overlaps[o].lower &&
               report.overlaps[o - 1].higher < report.overlaps[o].higher),
          "pairs sorted");
  double worst = 0;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      worst = fmax(worst, fabs(merged.affine[r][c] - affine[r][c]));
  CHECK(worst < 1e-5, "merged affine off by %g", worst);
  segc_merge_report_free(&report);
  segc_volume_free(&merged);
  segc_labels_free(&labels);
  return 0;
}

static int test_grid_mismatch(void) {
  segc_label_table labels;
  CHECK_OK(segc_labels_bundle(&labels));
  double affine[4][4];
  small_affine(affine);
  const box b = {{2, 2, 2}, {5, 5, 5}};
  segc_volume merged;
  segc_merge_report report;

  const char *shape_dir = test_temp_dir("label_merge_shape");
  const int64_t longer[3] = {10, 12, 15};
  CHECK_OK(write_box_mask(shape_dir, "spleen", SEGC_U8, small_dim, affine, &b, 1, 0));
  CHECK_OK(write_box_mask(shape_dir, "liver", SEGC_U8, longer, affine, &b, 1, 0));
  CHECK_FAILS(segc_merge_masks(shape_dir, &labels, false, &merged, NULL, &report),
              SEGC_ERR_FORMAT, "liver.nii.gz: shape 10x12x15");

  const char *affine_dir = test_temp_dir("label_merge_affine");
  double moved[4][4];
  memcpy(moved, affine, sizeof moved);
  moved[1][3] += 1e-3;  // 10x the tolerance
  CHECK_OK(write_box_mask(affine_dir, "spleen", SEGC_U8, small_dim, affine, &b, 1, 0));
  CHECK_OK(write_box_mask(affine_dir, "aorta", SEGC_U8, small_dim, moved, &b, 1, 0));
  CHECK_FAILS(segc_merge_masks(affine_dir, &labels, false, &merged, NULL, &report),
              SEGC_ERR_FORMAT, "aorta.nii.gz: affine differs");

  // Within the tolerance (2e-5 mm, well above float32 rounding at 20 mm).
  const char *close_dir = test_temp_dir("label_merge_close");
  moved[1][3] = affine[1][3] + 2e-5;
  CHECK_OK(write_box_mask(close_dir, "spleen", SEGC_U8, small_dim, affine, &b, 1, 0));
  CHECK_OK(write_box_mask(close_dir, "aorta", SEGC_U8, small_dim, moved, &b, 1, 0));
  CHECK_OK(segc_merge_masks(close_dir, &labels, false, &merged, NULL, &report));
  segc_merge_report_free(&report);
  segc_volume_free(&merged);
  segc_labels_free(&labels);
  return 0;
}

static int test_unknown_names(void) {
  segc_label_table labels;
  CHECK_OK(segc_labels_bundle(&labels));
  double affine[4][4];
  small_affine(affine);
  const box b = {{2, 2, 2}, {5, 5, 5}};
  const char *dir = test_temp_dir("label_merge_unknown");
  CHECK_OK(write_box_mask(dir, "spleen", SEGC_U8, small_dim, affine, &b, 1, 0));
  CHECK_OK(write_box_mask(dir, "lung_vessels", SEGC_U8, small_dim, affine, &b, 1, 0));
  CHECK_OK(write_box_mask(dir, "background", SEGC_U8, small_dim, affine, &b, 1, 0));
  write_text(test_path(dir, "readme.txt"), "not a mask");
  segc_volume merged;
  segc_merge_report report;
  CHECK_OK(segc_merge_masks(dir, &labels, false, &merged, NULL, &report));
  CHECK(report.unknown_count == 2 && !strcmp(report.unknown[0], "background") &&
            !strcmp(report.unknown[1], "lung_vessels"),
        "unknown names listed, sorted");
  CHECK(report.masks_merged == 1 && report.class_voxels[1] == 64, "spleen only");
  segc_merge_report_free(&report);
  segc_volume_free(&merged);
  CHECK_FAILS(segc_merge_masks(dir, &labels, true, &merged, NULL, &report),
              SEGC_ERR_FORMAT, "first background");

  const char *only_unknown = test_temp_dir("label_merge_none");
  CHECK_OK(write_box_mask(only_unknown, "lung_vessels", SEGC_U8, small_dim,
                          affine, &b, 1, 0));
  CHECK_FAILS(segc_merge_masks(only_unknown, &labels, false, &merged, NULL, &report),
              SEGC_ERR_FORMAT, "no mask named after a class");
  CHECK_FAILS(segc_merge_masks(test_path(only_unknown, "absent"), &labels, false,
                               &merged, NULL, &report),
              SEGC_ERR_IO, "absent");

  // A custom table: classes "a" and "b"; spleen is unknown to it.
  const char *custom = test_temp_dir("label_merge_custom");
  write_text(test_path(custom, "table.json"),
             "{\"labels\": [\"background\", \"a\", \"b\"]}");
  segc_label_table table;
  CHECK_OK(segc_labels_load(test_path(custom, "table.json"), &table));
  const char *masks = test_path(custom, "masks");
  make_dir(masks);
  const box c = {{0, 0, 0}, {1, 1, 1}};
  CHECK_OK(write_box_mask(masks, "b", SEGC_U8, small_dim, affine, &b, 1, 0));
  CHECK_OK(write_box_mask(masks, "a", SEGC_U8, small_dim, affine, &c, 1, 0));
  CHECK_OK(write_box_mask(masks, "spleen", SEGC_U8, small_dim, affine, &c, 1, 0));
  CHECK_OK(segc_merge_masks(masks, &table, false, &merged, NULL, &report));
  CHECK(report.class_voxels[1] == 8 && report.class_voxels[2] == 64 &&
            report.unknown_count == 1 && !strcmp(report.unknown[0], "spleen"),
        "custom table: a %lld, b %lld", (long long)report.class_voxels[1],
        (long long)report.class_voxels[2]);
  segc_merge_report_free(&report);
  segc_volume_free(&merged);
  segc_labels_free(&table);
  segc_labels_free(&labels);
  return 0;
}

typedef struct {
  int calls;
  char names[4][32];
  int64_t spleen_voxels[4];
} case_log;

static void log_case(const char *name, const segc_merge_report *report,
                     void *user) {
  case_log *log = user;
  if (log->calls < 4) {
    snprintf(log->names[log->calls], sizeof log->names[0], "%s", name);
    log->spleen_voxels[log->calls] = report->class_voxels[1];
  }
  log->calls++;
}

static bool same_file(const char *a, const char *b) {
  FILE *x = fopen(a, "rb"), *y = fopen(b, "rb");
  bool same = x && y;
  while (same) {
    const int cx = fgetc(x), cy = fgetc(y);
    same = cx == cy;
    if (cx == EOF || cy == EOF) break;
  }
  if (x) fclose(x);
  if (y) fclose(y);
  return same;
}

// DIR/<case>/ct.nii.gz and DIR/<case>/segmentations/{spleen,liver}.nii.gz.
static segc_status make_case(const char *root, const char *name,
                             const int64_t ct_dim[3], int64_t spleen_size) {
  char dir[4096], seg[4200];
  snprintf(dir, sizeof dir, "%s/%s", root, name);
  make_dir(dir);
  snprintf(seg, sizeof seg, "%s/segmentations", dir);
  make_dir(seg);
  double affine[4][4];
  small_affine(affine);
  const box spleen = {{0, 0, 0}, {spleen_size - 1, 1, 1}};
  const box liver = {{5, 5, 5}, {8, 8, 8}};
  const box everything = {{0, 0, 0}, {100, 100, 100}};
  SEGC_TRY(write_box_mask(seg, "spleen", SEGC_U8, small_dim, affine, &spleen, 1, 0));
  SEGC_TRY(write_box_mask(seg, "liver", SEGC_F32, small_dim, affine, &liver, 1, 0));
  return write_box_mask(dir, "ct", SEGC_I16, ct_dim, affine, &everything, 40,
                        -1000);
}

static int test_dataset_layout(void) {
  const char *root = test_temp_dir("label_merge_dataset");
  char in[4096], out[4096], a[4300], b[4300];
  snprintf(in, sizeof in, "%s/in", root);
  snprintf(out, sizeof out, "%s/out", root);
  make_dir(in);
  CHECK_OK(make_case(in, "s0002", small_dim, 3));
  CHECK_OK(make_case(in, "s0001", small_dim, 2));
  write_text(test_path(in, "meta.csv"), "files at the top are ignored");
  segc_label_table labels;
  CHECK_OK(segc_labels_bundle(&labels));
  case_log log = {0};
  CHECK_OK(segc_merge_dataset(in, out, &labels, false, log_case, &log));
  CHECK(log.calls == 2 && !strcmp(log.names[0], "s0001") &&
            !strcmp(log.names[1], "s0002"),
        "two cases in sorted order");
  CHECK(log.spleen_voxels[0] == 2 * 2 * 2 && log.spleen_voxels[1] == 3 * 2 * 2,
        "per-case reports");
  for (int c = 1; c <= 2; ++c) {
    snprintf(a, sizeof a, "%s/s000%d/ct.nii.gz", in, c);
    snprintf(b, sizeof b, "%s/imagesTr/s000%d.nii.gz", out, c);
    CHECK(same_file(a, b), "CT %d copied byte for byte", c);
    snprintf(b, sizeof b, "%s/labelsTr/s000%d.nii.gz", out, c);
    segc_volume label;
    CHECK_OK(segc_nifti_read(b, &label, NULL));
    const uint8_t *l = label.data;
    int64_t wrong = 0;
    for (int64_t i = 0; i < small_dim[0]; ++i)
      for (int64_t j = 0; j < small_dim[1]; ++j)
        for (int64_t k = 0; k < small_dim[2]; ++k) {
          int expected = 0;
          if (i <= c && j <= 1 && k <= 1) expected = 1;  // spleen, c + 1 wide
          if (i >= 5 && i <= 8 && j >= 5 && j <= 8 && k >= 5 && k <= 8)
            expected = 5;
          wrong += l[segc_volume_offset(&label, i, j, k)] != expected;
        }
    CHECK(wrong == 0, "case %d label: %lld wrong voxels", c, (long long)wrong);
    segc_volume_free(&label);
  }
  // The output follows the bundle's dataset_dir layout.
  segc_datalist list;
  CHECK_OK(segc_datalist_from_dataset_dir(out, 1, &list));
  CHECK(list.count[0] == 1 && list.count[1] == 1, "readable as dataset_dir");
  segc_datalist_free(&list);

  // A CT on another grid, and a case folder without masks.
  const char *bad = test_temp_dir("label_merge_dataset_bad");
  const int64_t other[3] = {10, 12, 13};
  CHECK_OK(make_case(bad, "s0003", other, 2));
  snprintf(out, sizeof out, "%s/out", bad);
  CHECK_FAILS(segc_merge_dataset(bad, out, &labels, false, NULL, NULL),
              SEGC_ERR_FORMAT, "s0003/ct.nii.gz: shape");
  const char *empty = test_temp_dir("label_merge_dataset_empty");
  make_dir(test_path(empty, "s0004"));
  CHECK_FAILS(segc_merge_dataset(empty, out, &labels, false, NULL, NULL),
              SEGC_ERR_FORMAT, "s0004: a case folder needs");
  segc_labels_free(&labels);
  return 0;
}

int main(void) {
  // A CHECK_OK failure returns 1 from its function without counting it.
  int stopped = 0;
  stopped |= test_overlap_rule();
  stopped |= test_grid_mismatch();
  stopped |= test_unknown_names();
  stopped |= test_dataset_layout();
  stopped |= test_split_and_merge_example();
  return test_finish("label_merge") | stopped;
}
