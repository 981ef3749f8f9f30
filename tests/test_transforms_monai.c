// The transforms on the shared CTs against MONAI 1.4 itself:
// tests/data/transforms_monai_ref.txt (tools/make_transform_reference.py)
// holds shapes, affines, statistics, label checksums, crop boxes and sampled
// voxels of MONAI's outputs for the bundle's inference, training and
// validation chains and for Invertd, on example_ct as given (RAS) and
// re-oriented to LPS, LAS and PIR, on example_ct_sm and on the LAS DICOM
// label. The re-oriented inputs are made here in memory (the script wrote
// them with nibabel, whose float32 srow fields round the affine: so does
// this test). Also checks the numbers in ../shared/data/README.md.
//
// Tolerances: shapes, boxes and labels exact; affines 1e-9 mm; image voxels
// 1e-4 * max(1, |value|) (MONAI's float32 mean/std/convolutions accumulate
// in float32, segc in double: the measured differences are ~1e-6);
// statistics 1e-6 * max(1, |value|).
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/crop.h"
#include "data/nifti_io.h"
#include "data/transforms.h"
#include "util/test_util.h"

typedef struct {
  char name[128];
  int64_t dim[3];
  double affine[4][4];
  double stats[4];  // mean, std, min, max
  bool has_checksum, has_box;
  long long checksum;
  int64_t box[6];
  int samples;
  int64_t (*index)[3];
  double *value;
} ref_record;

static ref_record *refs;
static int ref_count;
static double worst_image_diff, worst_affine_diff, worst_round_trip_affine;

static bool load_reference(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return false;
  }
  char line[1024];
  ref_record *r = NULL;
  int capacity = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "begin ", 6)) {
      refs = realloc(refs, sizeof(ref_record) * (size_t)(ref_count + 1));
      r = &refs[ref_count++];
      memset(r, 0, sizeof *r);
      sscanf(line + 6, "%63s", r->name);
      capacity = 0;
    } else if (r && !strncmp(line, "dim ", 4)) {
      sscanf(line + 4, "%" SCNd64 " %" SCNd64 " %" SCNd64, &r->dim[0], &r->dim[1], &r->dim[2]);
    } else if (r && !strncmp(line, "affine ", 7)) {
      char *p = line + 7;
      for (int e = 0; e < 16; ++e) r->affine[e / 4][e % 4] = strtod(p, &p);
    } else if (r && !strncmp(line, "stats ", 6)) {
      sscanf(line + 6, "%lf %lf %lf %lf", &r->stats[0], &r->stats[1], &r->stats[2],
             &r->stats[3]);
    } else if (r && !strncmp(line, "checksum ", 9)) {
      r->has_checksum = sscanf(line + 9, "%lld", &r->checksum) == 1;
    } else if (r && !strncmp(line, "box ", 4)) {
      r->has_box = sscanf(line + 4, "%" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64,
                          &r->box[0], &r->box[1],
                          &r->box[2], &r->box[3], &r->box[4], &r->box[5]) == 6;
    } else if (r && !strncmp(line, "v ", 2)) {
      if (r->samples == capacity) {
        capacity = capacity ? 2 * capacity : 64;
        r->index = realloc(r->index, sizeof(*r->index) * (size_t)capacity);
        r->value = realloc(r->value, sizeof(double) * (size_t)capacity);
      }
      sscanf(line + 2, "%" SCNd64 " %" SCNd64 " %" SCNd64 " %lf", &r->index[r->samples][0],
             &r->index[r->samples][1], &r->index[r->samples][2], &r->value[r->samples]);
      r->samples++;
    }
  }
  fclose(f);
  return ref_count > 0;
}

static const ref_record *find_ref(const char *name) {
  for (int i = 0; i < ref_count; ++i)
    if (!strcmp(refs[i].name, name)) return &refs[i];
  CHECK(false, "no reference record %s", name);
  return NULL;
}

static double voxel(const segc_volume *v, int64_t i, int64_t j, int64_t k) {
  return segc_load_f32(v->data, v->dtype, (size_t)segc_volume_offset(v, i, j, k));
}

// Compares a volume with MONAI's record `name` (see the file comment).
static void compare(const char *name, const segc_volume *v, bool label) {
  const ref_record *r = find_ref(name);
  if (!r) return;
  const bool same_dim = !memcmp(r->dim, v->dim, sizeof r->dim);
  CHECK(same_dim, "%s: dims %lldx%lldx%lld, MONAI %lldx%lldx%lld", name,
        (long long)v->dim[0], (long long)v->dim[1], (long long)v->dim[2],
        (long long)r->dim[0], (long long)r->dim[1], (long long)r->dim[2]);
  if (!same_dim) return;
  double affine_diff = 0.0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      affine_diff = fmax(affine_diff, fabs(v->affine[i][j] - r->affine[i][j]));
  worst_affine_diff = fmax(worst_affine_diff, affine_diff);
  CHECK(affine_diff <= 1e-9, "%s: affine differs by %g", name, affine_diff);
  // Statistics over the whole volume, in double.
  const int64_t n = segc_volume_numel(v);
  double sum = 0.0, lo = INFINITY, hi = -INFINITY, squares = 0.0;
  long long checksum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = segc_load_f32(v->data, v->dtype, (size_t)i);
    sum += x;
    lo = fmin(lo, x);
    hi = fmax(hi, x);
    if (label) checksum += llround(x) * (long long)(1 + i % 65521);
  }
  const double mean = sum / (double)n;
  for (int64_t i = 0; i < n; ++i) {
    const double d = segc_load_f32(v->data, v->dtype, (size_t)i) - mean;
    squares += d * d;
  }
  const double got[4] = {mean, sqrt(squares / (double)n), lo, hi};
  const char *stat_names[4] = {"mean", "std", "min", "max"};
  for (int s = 0; s < 4; ++s)
    CHECK(fabs(got[s] - r->stats[s]) <= 1e-6 * fmax(1.0, fabs(r->stats[s])),
          "%s: %s %.9g, MONAI %.9g", name, stat_names[s], got[s], r->stats[s]);
  if (r->has_checksum)
    CHECK(checksum == r->checksum, "%s: label checksum %lld, MONAI %lld", name,
          checksum, r->checksum);
  int bad = 0;
  double worst = 0.0;
  for (int s = 0; s < r->samples; ++s) {
    const double x = voxel(v, r->index[s][0], r->index[s][1], r->index[s][2]);
    const double diff = fabs(x - r->value[s]);
    worst = fmax(worst, diff);
    if (label) {
      bad += diff != 0.0;
    } else {
      worst_image_diff = fmax(worst_image_diff, diff / fmax(1.0, fabs(r->value[s])));
      bad += diff > 1e-4 * fmax(1.0, fabs(r->value[s]));
    }
  }
  if (getenv("SEGC_TEST_VERBOSE"))
    printf("%-28s %4d samples, max |diff| %.3g, mean %.9g vs MONAI %.9g\n", name,
           r->samples, worst, got[0], r->stats[0]);
  CHECK(bad == 0, "%s: %d of %d sampled voxels differ from MONAI", name, bad,
        r->samples);
}

// What the script's nibabel round trip does to an affine: float32 srow.
static void round_affine_f32(segc_volume *v) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) v->affine[i][j] = (float)v->affine[i][j];
}

static bool same_voxels(const segc_volume *a, const segc_volume *b) {
  return !memcmp(a->dim, b->dim, sizeof a->dim) && a->dtype == b->dtype &&
         !memcmp(a->data, b->data,
                 segc_dtype_size(a->dtype) * (size_t)segc_volume_numel(a));
}

// Inference chain step by step (compared after each step), the convenience
// call (must equal the steps), and the Invertd round trip of the label.
static int run_inference(const char *tag, const segc_volume *ct,
                         const segc_volume *label, double pixdim) {
  char name[128];
  const double pd[3] = {pixdim, pixdim, pixdim};
  segc_volume oriented, spaced, net;
  CHECK_OK(segc_orient(ct, "RAS", &oriented, NULL));
  snprintf(name, sizeof name, "%s_p%g_orient", tag, pixdim);
  compare(name, &oriented, false);
  CHECK_OK(segc_spacing(&oriented, pd, SEGC_INTERP_BILINEAR, &spaced, NULL));
  snprintf(name, sizeof name, "%s_p%g_spacing", tag, pixdim);
  compare(name, &spaced, false);
  CHECK_OK(segc_normalize_nonzero(&spaced, NULL));
  snprintf(name, sizeof name, "%s_p%g_normalize", tag, pixdim);
  compare(name, &spaced, false);
  CHECK_OK(segc_scale_intensity(&spaced, -1.0, 1.0, NULL));
  snprintf(name, sizeof name, "%s_p%g_scale", tag, pixdim);
  compare(name, &spaced, false);
  segc_inference_record record;
  CHECK_OK(segc_preprocess_inference(ct, pd, &net, &record));
  CHECK(same_voxels(&net, &spaced), "%s p%g: convenience chain differs", tag, pixdim);
  if (label) {
    char ltag[32];
    snprintf(ltag, sizeof ltag, "label%s", tag + 2);
    segc_volume lor, lsp, back;
    CHECK_OK(segc_orient(label, "RAS", &lor, NULL));
    CHECK_OK(segc_spacing(&lor, pd, SEGC_INTERP_NEAREST, &lsp, NULL));
    snprintf(name, sizeof name, "%s_p%g_spacing", ltag, pixdim);
    compare(name, &lsp, true);
    CHECK_OK(segc_invert_inference_label(&lsp, &record, &back));
    snprintf(name, sizeof name, "%s_p%g_inverted", ltag, pixdim);
    compare(name, &back, true);
    CHECK(same_voxels(&back, label), "%s: the round trip changed the label", name);
    double affine_diff = 0.0;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        affine_diff = fmax(affine_diff, fabs(back.affine[i][j] - label->affine[i][j]));
    worst_round_trip_affine = fmax(worst_round_trip_affine, affine_diff);
    CHECK(affine_diff <= 1e-9, "%s: affine %g mm from the input's", name, affine_diff);
    segc_volume_free(&lor);
    segc_volume_free(&lsp);
    segc_volume_free(&back);
  }
  segc_volume_free(&oriented);
  segc_volume_free(&spaced);
  segc_volume_free(&net);
  return 0;
}

// train.json's deterministic transforms, then validate's CenterSpatialCrop.
static int run_training(const segc_volume *ct, const segc_volume *label, double pixdim) {
  char name[128];
  const double pd[3] = {pixdim, pixdim, pixdim};
  segc_volume image, lab, tmp, crop_image, crop_label;
  CHECK_OK(segc_orient(ct, "RAS", &tmp, NULL));
  CHECK_OK(segc_spacing(&tmp, pd, SEGC_INTERP_BILINEAR, &image, NULL));
  segc_volume_free(&tmp);
  CHECK_OK(segc_orient(label, "RAS", &tmp, NULL));
  CHECK_OK(segc_spacing(&tmp, pd, SEGC_INTERP_NEAREST, &lab, NULL));
  segc_volume_free(&tmp);
  CHECK_OK(segc_normalize_nonzero(&image, NULL));
  segc_box box;
  CHECK_OK(segc_foreground_box(&image, (int64_t[3]){10, 10, 10},
                               (int64_t[3]){96, 96, 96}, true, &box));
  CHECK_OK(segc_crop_box(&image, &box, &crop_image));
  CHECK_OK(segc_crop_box(&lab, &box, &crop_label));
  snprintf(name, sizeof name, "train_p%g_crop_image", pixdim);
  compare(name, &crop_image, false);
  const ref_record *r = find_ref(name);
  if (r && r->has_box)
    for (int a = 0; a < 3; ++a)
      CHECK(box.start[a] == r->box[a] && box.end[a] == r->box[a + 3],
            "%s: box axis %d %lld..%lld, MONAI %lld..%lld", name, a,
            (long long)box.start[a], (long long)box.end[a], (long long)r->box[a],
            (long long)r->box[a + 3]);
  snprintf(name, sizeof name, "train_p%g_crop_label", pixdim);
  compare(name, &crop_label, true);
  CHECK_OK(segc_gaussian_smooth(&crop_image, (double[3]){0.4, 0.4, 0.4}));
  snprintf(name, sizeof name, "train_p%g_gaussian", pixdim);
  compare(name, &crop_image, false);
  CHECK_OK(segc_scale_intensity(&crop_image, -1.0, 1.0, NULL));
  snprintf(name, sizeof name, "train_p%g_scale", pixdim);
  compare(name, &crop_image, false);
  segc_box center;
  segc_volume center_image, center_label;
  CHECK_OK(segc_center_crop_box(crop_image.dim, (int64_t[3]){160, 160, 160}, &center));
  CHECK_OK(segc_crop_box(&crop_image, &center, &center_image));
  CHECK_OK(segc_crop_box(&crop_label, &center, &center_label));
  snprintf(name, sizeof name, "train_p%g_center_image", pixdim);
  compare(name, &center_image, false);
  snprintf(name, sizeof name, "train_p%g_center_label", pixdim);
  compare(name, &center_label, true);
  segc_volume_free(&center_image);
  segc_volume_free(&center_label);
  segc_volume_free(&crop_image);
  segc_volume_free(&crop_label);
  segc_volume_free(&image);
  segc_volume_free(&lab);
  return 0;
}

static int run_label_only(const segc_volume *label, double pixdim) {
  char name[128];
  segc_volume oriented, spaced, unspaced, back;
  segc_orientation_record orecord;
  segc_spacing_record srecord;
  CHECK_OK(segc_orient(label, "RAS", &oriented, &orecord));
  CHECK_OK(segc_spacing(&oriented, (double[3]){pixdim, pixdim, pixdim},
                        SEGC_INTERP_NEAREST, &spaced, &srecord));
  snprintf(name, sizeof name, "dicom_label_p%g_spacing", pixdim);
  compare(name, &spaced, true);
  CHECK_OK(segc_spacing_inverse(&spaced, &srecord, SEGC_INTERP_NEAREST, &unspaced));
  CHECK_OK(segc_orient_inverse(&unspaced, &orecord, &back));
  snprintf(name, sizeof name, "dicom_label_p%g_inverted", pixdim);
  compare(name, &back, true);
  segc_volume_free(&oriented);
  segc_volume_free(&spaced);
  segc_volume_free(&unspaced);
  segc_volume_free(&back);
  return 0;
}

// The table in ../shared/data/README.md (values printed to 3 or 6 decimals).
static int check_readme(const segc_volume *ct, const char *what, double pixdim,
                        const int64_t shape[3], const double expect[6]) {
  segc_volume net;
  segc_inference_record record;
  CHECK_OK(segc_preprocess_inference(ct, (double[3]){pixdim, pixdim, pixdim}, &net,
                                     &record));
  CHECK(!memcmp(net.dim, shape, sizeof net.dim), "README %s %g: shape", what, pixdim);
  for (int a = 0; a < 3; ++a)
    CHECK(fabs(net.affine[a][3] - expect[a]) <= 5e-4, "README %s %g: origin %d %.4f",
          what, pixdim, a, net.affine[a][3]);
  const int64_t n = segc_volume_numel(&net);
  const float *x = net.data;
  double sum = 0.0, squares = 0.0, lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    sum += x[i];
    lo = fmin(lo, x[i]);
    hi = fmax(hi, x[i]);
  }
  for (int64_t i = 0; i < n; ++i) squares += (x[i] - sum / n) * (x[i] - sum / n);
  const double centre =
      x[segc_volume_offset(&net, shape[0] / 2, shape[1] / 2, shape[2] / 2)];
  CHECK(fabs(sum / n - expect[3]) <= 1e-6 && fabs(sqrt(squares / n) - expect[4]) <= 1e-6 &&
            fabs(centre - expect[5]) <= 1e-6 && lo == -1.0 && hi == 1.0,
        "README %s %g: mean %.6f std %.6f centre %.6f range %g..%g", what, pixdim,
        sum / n, sqrt(squares / n), centre, lo, hi);
  segc_volume_free(&net);
  return 0;
}

static segc_status read_volume(const char *dir, const char *file, segc_volume *v) {
  return segc_nifti_read(test_path(dir, file), v, NULL);
}

int main(void) {
  const char *shared = test_shared_dir("transforms_monai");
  if (!shared) return TEST_SKIP;
  const char *source = getenv("SEGC_SOURCE_DIR");
  char ref_path[4096];
  snprintf(ref_path, sizeof ref_path, "%s/tests/data/transforms_monai_ref.txt",
           source && *source ? source : ".");
  CHECK(load_reference(ref_path), "reference %s", ref_path);
  if (!ref_count) return test_finish("transforms_monai");
  const char *data = test_path(shared, "data");
  segc_volume ct, label, ct_sm, dicom_label;
  CHECK_OK(read_volume(data, "example_ct.nii.gz", &ct));
  CHECK_OK(read_volume(data, "example_ct_label104.nii.gz", &label));
  CHECK_OK(read_volume(data, "example_ct_sm.nii.gz", &ct_sm));
  CHECK_OK(read_volume(data, "example_ct_dicom_label104.nii.gz", &dicom_label));

  const char *orientations[] = {"RAS", "LPS", "LAS", "PIR"};
  for (int o = 0; o < 4; ++o) {
    char tag[32], name[128];
    segc_volume src_ct, src_label;
    CHECK_OK(segc_orient(&ct, orientations[o], &src_ct, NULL));
    CHECK_OK(segc_orient(&label, orientations[o], &src_label, NULL));
    round_affine_f32(&src_ct);
    round_affine_f32(&src_label);
    snprintf(name, sizeof name, "ct_%s_input", orientations[o]);
    compare(name, &src_ct, false);
    snprintf(name, sizeof name, "label_%s_input", orientations[o]);
    compare(name, &src_label, true);
    snprintf(tag, sizeof tag, "ct_%s", orientations[o]);
    run_inference(tag, &src_ct, &src_label, 3.0);
    run_inference(tag, &src_ct, &src_label, 1.5);
    segc_volume_free(&src_ct);
    segc_volume_free(&src_label);
  }
  for (int p = 0; p < 2; ++p) {
    const double pixdim = p == 0 ? 3.0 : 1.5;
    run_inference("ctsm", &ct_sm, NULL, pixdim);
    run_training(&ct, &label, pixdim);
    run_label_only(&dicom_label, pixdim);
  }
  check_readme(&ct, "example_ct", 3.0, (int64_t[3]){122, 101, 112},
               (double[6]){-177.956, 11.319, 94.302, -0.631698, 0.201650, -0.402484});
  check_readme(&ct, "example_ct", 1.5, (int64_t[3]){243, 201, 223},
               (double[6]){-177.956, 11.319, 94.302, -0.628567, 0.199018, -0.404445});
  check_readme(&ct_sm, "example_ct_sm", 3.0, (int64_t[3]){122, 101, 30},
               (double[6]){-177.956, 11.319, 94.302, -0.354888, 0.394812, -0.354888});
  check_readme(&ct_sm, "example_ct_sm", 1.5, (int64_t[3]){243, 201, 59},
               (double[6]){-177.956, 11.319, 94.302, -0.348324, 0.388678, -0.066753});
  printf("max relative voxel difference from MONAI %.3g, max affine difference %.3g mm, "
         "round-trip affine vs input %.3g mm\n",
         worst_image_diff, worst_affine_diff, worst_round_trip_affine);
  segc_volume_free(&ct);
  segc_volume_free(&label);
  segc_volume_free(&ct_sm);
  segc_volume_free(&dicom_label);
  for (int i = 0; i < ref_count; ++i) {
    free(refs[i].index);
    free(refs[i].value);
  }
  free(refs);
  return test_finish("transforms_monai");
}
