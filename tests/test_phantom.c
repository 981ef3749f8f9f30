// The synthetic CT phantom: determinism (seed, case index, threads), every
// class present with plausible HU, left/right on the patient's side in world
// coordinates, orientation codes that keep every voxel's world position, and
// the files and datalist it writes.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/datalist.h"
#include "data/labels.h"
#include "data/nifti_io.h"
#include "data/orientation.h"
#include "phantom/phantom.h"
#include "util/test_util.h"

static segc_phantom_options options_sized(int64_t x, int64_t y, int64_t z) {
  segc_phantom_options o;
  segc_phantom_default_options(&o);
  o.dim[0] = x;
  o.dim[1] = y;
  o.dim[2] = z;
  return o;
}

static bool same_volume(const segc_volume *a, const segc_volume *b) {
  return a->dtype == b->dtype && a->dim[0] == b->dim[0] &&
         a->dim[1] == b->dim[1] && a->dim[2] == b->dim[2] &&
         memcmp(a->affine, b->affine, sizeof a->affine) == 0 &&
         memcmp(a->data, b->data,
                (size_t)segc_volume_numel(a) * segc_dtype_size(a->dtype)) == 0;
}

static int test_determinism(void) {
  const segc_phantom_options o = options_sized(40, 36, 44);
  segc_volume ct1, lab1, ct2, lab2;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  CHECK_OK(segc_phantom_case(&o, 2, &ct1, &lab1));
  omp_set_num_threads(2);
  CHECK_OK(segc_phantom_case(&o, 2, &ct2, &lab2));
  omp_set_num_threads(threads);
  CHECK(same_volume(&ct1, &ct2) && same_volume(&lab1, &lab2),
        "1 and 2 threads give the same bytes");
  segc_volume_free(&ct2);
  segc_volume_free(&lab2);

  // Another seed or another case index: a different phantom.
  segc_phantom_options other = o;
  other.seed = 2;
  CHECK_OK(segc_phantom_case(&other, 2, &ct2, &lab2));
  int64_t differ = 0;
  const int64_t n = segc_volume_numel(&ct1);
  for (int64_t v = 0; v < n; ++v)
    differ += ((int16_t *)ct1.data)[v] != ((int16_t *)ct2.data)[v];
  // Noise alone changes almost every voxel; demand half.
  CHECK(differ > n / 2, "seed 2 differs in %lld of %lld voxels",
        (long long)differ, (long long)n);
  segc_volume_free(&ct2);
  segc_volume_free(&lab2);
  CHECK_OK(segc_phantom_case(&o, 3, &ct2, &lab2));
  int64_t label_differ = 0;
  for (int64_t v = 0; v < n; ++v)
    label_differ += ((uint8_t *)lab1.data)[v] != ((uint8_t *)lab2.data)[v];
  CHECK(label_differ > n / 100, "case 3's anatomy differs from case 2's: %lld",
        (long long)label_differ);
  segc_volume_free(&ct1);
  segc_volume_free(&lab1);
  segc_volume_free(&ct2);
  segc_volume_free(&lab2);
  return 0;
}

static int compare_floats(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

// Median HU of the voxels with class c (NaN when none).
static double median_hu(const segc_volume *ct, const segc_volume *label, int c,
                        float *scratch) {
  const int16_t *hu = ct->data;
  const uint8_t *l = label->data;
  int64_t m = 0;
  for (int64_t v = 0; v < segc_volume_numel(ct); ++v)
    if (l[v] == c) scratch[m++] = hu[v];
  if (m == 0) return NAN;
  qsort(scratch, (size_t)m, sizeof *scratch, compare_floats);
  return scratch[m / 2];
}

typedef struct {
  const char *prefix;
  double lo, hi;  // plausible median HU
} hu_band;

// Bands from the brief and CT practice, wide enough for per-case contrast
// and intensity variation, narrow enough to tell tissues apart.
static const hu_band bands[] = {
    {"liver", 40, 130},          {"lung_", -900, -780},
    {"vertebrae_", 250, 950},    {"rib_", 250, 950},
    {"hip_", 250, 950},          {"urinary_bladder", -10, 30},
    {"spleen", 20, 200},         {"kidney_", 20, 200},
    {"aorta", 20, 300},          {"autochthon_", 30, 70},
    {"iliopsoas_", 30, 70},      {"gluteus_", 30, 70},
    {"gallbladder", -10, 30},    {"colon", -600, 0},
};

static int test_classes_and_hu(void) {
  const segc_phantom_options o = options_sized(96, 96, 96);
  float *scratch = malloc(sizeof(float) * 96 * 96 * 96);
  if (!scratch) return 1;
  const int classes = segc_phantom_class_count();
  CHECK(classes >= 15, "%d classes", classes);
  for (int64_t k = 0; k < 4; ++k) {
    segc_volume ct, label;
    CHECK_OK(segc_phantom_case(&o, k, &ct, &label));
    int64_t counts[256] = {0};
    const uint8_t *l = label.data;
    const int16_t *hu = ct.data;
    const int64_t n = segc_volume_numel(&ct);
    for (int64_t v = 0; v < n; ++v) counts[l[v]]++;
    bool drawn[256] = {true};  // background
    for (int i = 0; i < classes; ++i) {
      const char *name = segc_phantom_class_name(i);
      const int c = segc_labels_bundle_find(name);
      CHECK(c > 0, "%s is a bundle class", name);
      if (c <= 0) continue;
      drawn[c] = true;
      // The brief: no class under ~50 voxels at 3 mm.
      CHECK(counts[c] >= 50, "case %lld: %s has %lld voxels", (long long)k,
            name, (long long)counts[c]);
      for (size_t b = 0; b < sizeof bands / sizeof bands[0]; ++b) {
        if (strncmp(name, bands[b].prefix, strlen(bands[b].prefix)) != 0)
          continue;
        const double median = median_hu(&ct, &label, c, scratch);
        CHECK(median >= bands[b].lo && median <= bands[b].hi,
              "case %lld: %s median %g HU outside [%g, %g]", (long long)k,
              name, median, bands[b].lo, bands[b].hi);
      }
    }
    for (int c = 0; c < 256; ++c)
      CHECK(drawn[c] || counts[c] == 0, "case %lld: class %d not expected",
            (long long)k, c);
    // Air in the 8 corners; Gaussian noise of 10-20 HU inside the bladder,
    // whose HU is otherwise uniform.
    for (int corner = 0; corner < 8; ++corner) {
      const int64_t i = corner & 1 ? 95 : 0, j = corner & 2 ? 95 : 0,
                    kk = corner & 4 ? 95 : 0;
      const int16_t value = hu[segc_volume_offset(&ct, i, j, kk)];
      CHECK(value > -1100 && value < -900, "corner %d is %d HU", corner, value);
    }
    const int bladder = segc_labels_bundle_find("urinary_bladder");
    double sum = 0, sum_sq = 0;
    for (int64_t v = 0; v < n; ++v)
      if (l[v] == bladder) {
        sum += hu[v];
        sum_sq += (double)hu[v] * hu[v];
      }
    const double mean = sum / (double)counts[bladder];
    const double sd = sqrt(sum_sq / (double)counts[bladder] - mean * mean);
    CHECK(sd > 8 && sd < 25, "case %lld: bladder noise sd %g HU",
          (long long)k, sd);
    segc_volume_free(&ct);
    segc_volume_free(&label);
  }
  free(scratch);
  return 0;
}

// World centroid (mm) of class c, from the volume's own affine.
static void world_centroid(const segc_volume *label, int c, double out[3]) {
  double sum[3] = {0, 0, 0};
  int64_t count = 0;
  const uint8_t *l = label->data;
  for (int64_t i = 0; i < label->dim[0]; ++i)
    for (int64_t j = 0; j < label->dim[1]; ++j)
      for (int64_t k = 0; k < label->dim[2]; ++k) {
        if (l[segc_volume_offset(label, i, j, k)] != c) continue;
        for (int r = 0; r < 3; ++r)
          sum[r] += label->affine[r][0] * (double)i +
                    label->affine[r][1] * (double)j +
                    label->affine[r][2] * (double)k + label->affine[r][3];
        ++count;
      }
  for (int r = 0; r < 3; ++r) out[r] = count ? sum[r] / (double)count : NAN;
}

static double body_midline_x(const segc_volume *ct) {
  double sum = 0;
  int64_t count = 0;
  const int16_t *hu = ct->data;
  for (int64_t i = 0; i < ct->dim[0]; ++i)
    for (int64_t j = 0; j < ct->dim[1]; ++j)
      for (int64_t k = 0; k < ct->dim[2]; ++k) {
        if (hu[segc_volume_offset(ct, i, j, k)] < -500) continue;  // air
        sum += ct->affine[0][0] * (double)i + ct->affine[0][1] * (double)j +
               ct->affine[0][2] * (double)k + ct->affine[0][3];
        ++count;
      }
  return sum / (double)count;
}

static int test_left_right(void) {
  // NIfTI's RAS+ world: x grows toward the patient's right, so the patient's
  // left side has the smaller x (nibabel, "Coordinate systems and affines").
  static const char *const pairs[][2] = {
      {"kidney_left", "kidney_right"},
      {"lung_lower_lobe_left", "lung_lower_lobe_right"},
      {"autochthon_left", "autochthon_right"},
      {"iliopsoas_left", "iliopsoas_right"},
      {"gluteus_maximus_left", "gluteus_maximus_right"},
      {"hip_left", "hip_right"},
      {"iliac_artery_left", "iliac_artery_right"},
      {"rib_left_9", "rib_right_9"},
      {"rib_left_12", "rib_right_12"}};
  const char *orientations[] = {"RAS", "LPS", "SAR"};
  for (int oi = 0; oi < 3; ++oi) {
    segc_phantom_options o = options_sized(96, 96, 96);
    strcpy(o.orientation, orientations[oi]);
    segc_volume ct, label;
    CHECK_OK(segc_phantom_case(&o, 1, &ct, &label));
    const double midline = body_midline_x(&ct);
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; ++p) {
      const char *left = pairs[p][0], *right = pairs[p][1];
      double cl[3], cr[3];
      world_centroid(&label, segc_labels_bundle_find(left), cl);
      world_centroid(&label, segc_labels_bundle_find(right), cr);
      CHECK(cl[0] < midline - 10 && cr[0] > midline + 10,
            "%s: %s at x %g, %s at x %g, midline %g", orientations[oi], left,
            cl[0], right, cr[0], midline);
    }
    double liver[3], spleen[3], lung[3], bladder[3], back[3], l5[3], t9[3];
    world_centroid(&label, segc_labels_bundle_find("liver"), liver);
    world_centroid(&label, segc_labels_bundle_find("spleen"), spleen);
    world_centroid(&label, segc_labels_bundle_find("lung_lower_lobe_left"), lung);
    world_centroid(&label, segc_labels_bundle_find("urinary_bladder"), bladder);
    world_centroid(&label, segc_labels_bundle_find("autochthon_left"), back);
    world_centroid(&label, segc_labels_bundle_find("vertebrae_L5"), l5);
    world_centroid(&label, segc_labels_bundle_find("vertebrae_T9"), t9);
    CHECK(liver[0] > midline && spleen[0] < midline,
          "%s: liver on the right (x %g), spleen on the left (x %g)",
          orientations[oi], liver[0], spleen[0]);
    CHECK(lung[2] > bladder[2] + 100 && t9[2] > l5[2] + 150,
          "%s: superior is +z (lung %g, bladder %g, T9 %g, L5 %g)",
          orientations[oi], lung[2], bladder[2], t9[2], l5[2]);
    CHECK(bladder[1] > back[1] + 50, "%s: anterior is +y (bladder %g, back %g)",
          orientations[oi], bladder[1], back[1]);
    segc_volume_free(&ct);
    segc_volume_free(&label);
  }
  return 0;
}

// Every voxel of a reoriented phantom sits at the world position of the RAS
// voxel with the same value: world = A_out * o, RAS index = A_ras^-1 * world
// (A_ras is diagonal here).
static int test_orientation(void) {
  segc_phantom_options o = options_sized(20, 24, 28);
  o.spacing[0] = 2.0;
  o.spacing[1] = 3.0;
  o.spacing[2] = 4.5;
  segc_volume ras_ct, ras_label;
  CHECK_OK(segc_phantom_case(&o, 0, &ras_ct, &ras_label));
  const char *codes[] = {"LPS", "SAR", "ILA", "RAI", "PSL"};
  for (int c = 0; c < 5; ++c) {
    segc_phantom_options other = o;
    strcpy(other.orientation, codes[c]);
    segc_volume ct, label;
    CHECK_OK(segc_phantom_case(&other, 0, &ct, &label));
    int64_t mismatches = 0, off_grid = 0;
    for (int64_t i = 0; i < ct.dim[0]; ++i)
      for (int64_t j = 0; j < ct.dim[1]; ++j)
        for (int64_t k = 0; k < ct.dim[2]; ++k) {
          int64_t r[3];
          for (int w = 0; w < 3; ++w) {
            const double world = ct.affine[w][0] * (double)i +
                                 ct.affine[w][1] * (double)j +
                                 ct.affine[w][2] * (double)k + ct.affine[w][3];
            const double index = (world - ras_ct.affine[w][3]) / ras_ct.affine[w][w];
            r[w] = (int64_t)llround(index);
            off_grid += fabs(index - (double)r[w]) > 1e-9 || r[w] < 0 ||
                        r[w] >= ras_ct.dim[w];
          }
          if (off_grid) continue;
          const int64_t v = segc_volume_offset(&ct, i, j, k);
          const int64_t rv = segc_volume_offset(&ras_ct, r[0], r[1], r[2]);
          mismatches += ((int16_t *)ct.data)[v] != ((int16_t *)ras_ct.data)[rv] ||
                        ((uint8_t *)label.data)[v] !=
                            ((uint8_t *)ras_label.data)[rv];
        }
    CHECK(off_grid == 0 && mismatches == 0, "%s: %lld off-grid, %lld mismatched",
          codes[c], (long long)off_grid, (long long)mismatches);
    char axcodes[4];
    CHECK_OK(segc_affine_axcodes(ct.affine, axcodes));
    CHECK(strcmp(axcodes, codes[c]) == 0, "nibabel's axcodes %s for %s",
          axcodes, codes[c]);
    // MONAI's Orientation("RAS") maps it back voxel for voxel.
    segc_volume back;
    CHECK_OK(segc_orient(&ct, "RAS", &back, NULL));
    CHECK(back.dim[0] == 20 && back.dim[1] == 24 && back.dim[2] == 28 &&
              memcmp(back.data, ras_ct.data, (size_t)segc_volume_numel(&back) * 2) == 0,
          "%s: Orientation(RAS) restores the RAS voxels", codes[c]);
    double worst = 0;
    for (int r = 0; r < 4; ++r)
      for (int q = 0; q < 4; ++q)
        worst = fmax(worst, fabs(back.affine[r][q] - ras_ct.affine[r][q]));
    CHECK(worst < 1e-9, "%s: affine back to RAS differs by %g", codes[c], worst);
    segc_volume_free(&back);
    segc_volume_free(&ct);
    segc_volume_free(&label);
  }
  segc_volume_free(&ras_ct);
  segc_volume_free(&ras_label);
  return 0;
}

static bool read_bytes(const char *path, char **data, long *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  bool ok = fseek(f, 0, SEEK_END) == 0 && (*size = ftell(f)) >= 0 &&
            fseek(f, 0, SEEK_SET) == 0;
  *data = ok ? malloc((size_t)*size + 1) : NULL;
  ok = ok && *data && fread(*data, 1, (size_t)*size, f) == (size_t)*size;
  fclose(f);
  return ok;
}

static bool same_file(const char *a, const char *b) {
  char *x = NULL, *y = NULL;
  long nx = 0, ny = 0;
  const bool same = read_bytes(a, &x, &nx) && read_bytes(b, &y, &ny) &&
                    nx == ny && memcmp(x, y, (size_t)nx) == 0;
  free(x);
  free(y);
  return same;
}

static int test_dataset_files(void) {
  segc_phantom_options o = options_sized(32, 28, 30);
  o.spacing[0] = o.spacing[1] = o.spacing[2] = 9.0;
  char three[4096], five[4096], a[4200], b[4200];
  snprintf(three, sizeof three, "%s", test_temp_dir("phantom3"));
  snprintf(five, sizeof five, "%s", test_temp_dir("phantom5"));
  CHECK_OK(segc_phantom_write_dataset(three, &o, 3, 1));
  CHECK_OK(segc_phantom_write_dataset(five, &o, 5, 1));
  for (int k = 0; k < 3; ++k)
    for (int part = 0; part < 2; ++part) {
      const char *sub = part ? "labelsTr" : "imagesTr";
      snprintf(a, sizeof a, "%s/%s/case_%04d.nii.gz", three, sub, k);
      snprintf(b, sizeof b, "%s/%s/case_%04d.nii.gz", five, sub, k);
      CHECK(same_file(a, b), "case %d (%s) identical for N=3 and N=5", k, sub);
    }
  // Read back: the files hold what segc_phantom_case returns.
  segc_volume ct, label, file_ct, file_label;
  CHECK_OK(segc_phantom_case(&o, 4, &ct, &label));
  snprintf(a, sizeof a, "%s/imagesTr/case_0004.nii.gz", five);
  snprintf(b, sizeof b, "%s/labelsTr/case_0004.nii.gz", five);
  CHECK_OK(segc_nifti_read(a, &file_ct, NULL));
  CHECK_OK(segc_nifti_read(b, &file_label, NULL));
  CHECK(file_ct.dtype == SEGC_I16 && file_label.dtype == SEGC_U8, "dtypes");
  double worst = 0;
  for (int r = 0; r < 4; ++r)
    for (int q = 0; q < 4; ++q)
      worst = fmax(worst, fabs(file_ct.affine[r][q] - ct.affine[r][q]));
  // NIfTI-1 stores the affine as float32: ~1e-7 relative of 130 mm.
  CHECK(worst < 1e-4, "affine read back within %g", worst);
  memcpy(file_ct.affine, ct.affine, sizeof ct.affine);
  memcpy(file_label.affine, label.affine, sizeof label.affine);
  CHECK(same_volume(&file_ct, &ct) && same_volume(&file_label, &label),
        "voxels read back");
  segc_volume_free(&ct);
  segc_volume_free(&label);
  segc_volume_free(&file_ct);
  segc_volume_free(&file_label);

  segc_datalist list;
  snprintf(a, sizeof a, "%s/datalist.json", five);
  CHECK_OK(segc_datalist_read_json(a, true, &list));
  CHECK(list.count[SEGC_DATALIST_TRAINING] == 4 &&
            list.count[SEGC_DATALIST_VALIDATION] == 1,
        "4 training, 1 validation");
  snprintf(b, sizeof b, "%s/imagesTr/case_0004.nii.gz", five);
  CHECK(list.count[SEGC_DATALIST_VALIDATION] == 1 &&
            strcmp(list.items[SEGC_DATALIST_VALIDATION][0].image, b) == 0,
        "the last case validates");
  segc_datalist_free(&list);
  return 0;
}

static int test_option_errors(void) {
  segc_phantom_options o = options_sized(96, 96, 96);
  segc_volume ct, label;
  o.dim[1] = 2;
  CHECK_FAILS(segc_phantom_check_options(&o), SEGC_ERR_INVALID, "size 2");
  o = options_sized(96, 96, 96);
  o.spacing[2] = 0;
  CHECK_FAILS(segc_phantom_case(&o, 0, &ct, &label), SEGC_ERR_INVALID,
              "spacing 0");
  o = options_sized(96, 96, 96);
  strcpy(o.orientation, "RAR");
  CHECK_FAILS(segc_phantom_check_options(&o), SEGC_ERR_INVALID, "twice");
  strcpy(o.orientation, "XYZ");
  CHECK_FAILS(segc_phantom_check_options(&o), SEGC_ERR_INVALID, "'X'");
  strcpy(o.orientation, "RA");
  CHECK_FAILS(segc_phantom_check_options(&o), SEGC_ERR_INVALID, "three letters");
  o = options_sized(16, 16, 16);
  const char *dir = test_temp_dir("phantom_errors");
  CHECK_FAILS(segc_phantom_write_dataset(dir, &o, 0, 0), SEGC_ERR_INVALID,
              "0 cases");
  CHECK_FAILS(segc_phantom_write_dataset(dir, &o, 3, 3), SEGC_ERR_INVALID,
              "none to train");
  return 0;
}

// --structures: only the named classes stay in the label; the CT is the same.
static int test_label_subset(void) {
  segc_phantom_options all, some;
  segc_phantom_default_options(&all);
  for (int a = 0; a < 3; ++a) all.dim[a] = 40;
  some = all;
  CHECK_OK(segc_phantom_label_only(&some, "liver,spleen"));
  segc_volume ct_all, label_all, ct_some, label_some;
  CHECK_OK(segc_phantom_case(&all, 0, &ct_all, &label_all));
  CHECK_OK(segc_phantom_case(&some, 0, &ct_some, &label_some));
  CHECK(memcmp(ct_all.data, ct_some.data, (size_t)segc_volume_numel(&ct_all) * 2) == 0,
        "the CT does not change");
  const uint8_t *a = label_all.data, *b = label_some.data;
  const int liver = segc_labels_bundle_find("liver");
  const int spleen = segc_labels_bundle_find("spleen");
  int64_t wrong = 0, kept = 0;
  for (int64_t v = 0; v < segc_volume_numel(&label_all); ++v) {
    const bool keep = a[v] == liver || a[v] == spleen;
    wrong += b[v] != (keep ? a[v] : 0);
    kept += keep;
  }
  CHECK(wrong == 0 && kept > 0, "only liver and spleen labelled (%lld wrong)",
        (long long)wrong);
  CHECK_FAILS(segc_phantom_label_only(&some, "liver,heart_atrium_left"),
              SEGC_ERR_INVALID, "heart_atrium_left");
  segc_volume_free(&ct_all);
  segc_volume_free(&label_all);
  segc_volume_free(&ct_some);
  segc_volume_free(&label_some);
  return 0;
}

int main(void) {
  // A CHECK_OK failure returns 1 from its function without counting it.
  int stopped = 0;
  stopped |= test_determinism();
  stopped |= test_option_errors();
  stopped |= test_orientation();
  stopped |= test_dataset_files();
  stopped |= test_left_right();
  stopped |= test_classes_and_hu();
  stopped |= test_label_subset();
  return test_finish("phantom") | stopped;
}
