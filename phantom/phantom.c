// Painting the phantom's shapes onto a grid, noise, orientation and files.
#include "phantom/phantom.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/rng.h"
#include "data/datalist.h"
#include "data/file_list.h"
#include "data/labels.h"
#include "data/nifti_io.h"
#include "phantom/phantom_shapes.h"

// Canonical field of view of the anatomy (mm per axis).
static const double canonical_fov = 288.0;

static const char *const phantom_classes[] = {
    "spleen", "kidney_right", "kidney_left", "gallbladder", "liver",
    "stomach", "aorta", "inferior_vena_cava", "lung_upper_lobe_left",
    "lung_lower_lobe_left", "lung_upper_lobe_right", "lung_middle_lobe_right",
    "lung_lower_lobe_right", "vertebrae_L5", "vertebrae_L4", "vertebrae_L3",
    "vertebrae_L2", "vertebrae_L1", "vertebrae_T12", "vertebrae_T11",
    "vertebrae_T10", "vertebrae_T9", "iliac_artery_left",
    "iliac_artery_right", "small_bowel", "colon", "rib_left_9", "rib_left_10",
    "rib_left_11", "rib_left_12", "rib_right_9", "rib_right_10",
    "rib_right_11", "rib_right_12", "hip_left", "hip_right",
    "gluteus_maximus_left", "gluteus_maximus_right", "autochthon_left",
    "autochthon_right", "iliopsoas_left", "iliopsoas_right",
    "urinary_bladder"};

int segc_phantom_class_count(void) {
  return (int)(sizeof phantom_classes / sizeof phantom_classes[0]);
}
const char *segc_phantom_class_name(int i) {
  return i >= 0 && i < segc_phantom_class_count() ? phantom_classes[i] : NULL;
}

void segc_phantom_default_options(segc_phantom_options *options) {
  memset(options, 0, sizeof *options);
  for (int a = 0; a < 3; ++a) {
    options->dim[a] = 96;
    options->spacing[a] = 3.0;
  }
  options->seed = 1;
  strcpy(options->orientation, "RAS");
  for (int c = 0; c < 256; ++c) options->labelled[c] = true;
}

segc_status segc_phantom_label_only(segc_phantom_options *options,
                                    const char *names) {
  bool keep[256] = {false};
  keep[0] = true;
  char list[4096];
  snprintf(list, sizeof list, "%s", names);
  for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
    bool drawn = false;
    for (int i = 0; i < segc_phantom_class_count(); ++i)
      drawn |= strcmp(segc_phantom_class_name(i), name) == 0;
    const int index = segc_labels_bundle_find(name);
    if (!drawn || index < 0)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "phantom: '%s' is not one of the structures the "
                       "phantom draws (segprep phantom --help lists them)",
                       name);
    keep[index] = true;
  }
  memcpy(options->labelled, keep, sizeof keep);
  return SEGC_OK;
}

// Axis codes: for output axis a, the RAS axis it runs along and whether it
// runs backwards (L, P, I).
static segc_status parse_codes(const char *codes, int world_axis[3],
                               bool flip[3]) {
  if (!codes || strlen(codes) != 3)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "orientation '%s' must be three letters such as RAS or LPS",
                     codes ? codes : "(null)");
  bool used[3] = {false, false, false};
  for (int a = 0; a < 3; ++a) {
    const char *letters = "RLAPSI";
    const char *at = strchr(letters, toupper((unsigned char)codes[a]));
    if (!at || !codes[a])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "orientation '%s': letter '%c' is not one of R L A P S I",
                       codes, codes[a]);
    const int position = (int)(at - letters);
    world_axis[a] = position / 2;
    flip[a] = position % 2 == 1;
    if (used[world_axis[a]])
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "orientation '%s' names the same axis twice", codes);
    used[world_axis[a]] = true;
  }
  return SEGC_OK;
}

segc_status segc_phantom_check_options(const segc_phantom_options *options) {
  for (int a = 0; a < 3; ++a) {
    if (options->dim[a] < 4 || options->dim[a] > 1024)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "phantom: size %lld on axis %d is outside 4..1024",
                       (long long)options->dim[a], a);
    if (!(options->spacing[a] > 0.0 && options->spacing[a] <= 50.0))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "phantom: spacing %g on axis %d is outside (0, 50] mm",
                       options->spacing[a], a);
  }
  int world_axis[3];
  bool flip[3];
  return parse_codes(options->orientation, world_axis, flip);
}

segc_status segc_phantom_reorient(const segc_volume *ras, const char *codes,
                                  segc_volume *out) {
  int world_axis[3];
  bool flip[3];
  SEGC_TRY(parse_codes(codes, world_axis, flip));
  int64_t dim[3];
  for (int a = 0; a < 3; ++a) dim[a] = ras->dim[world_axis[a]];
  SEGC_TRY(segc_volume_alloc(out, ras->dtype, dim));
  // Source index s = P o + c: s[world_axis[a]] = flip ? n - 1 - o[a] : o[a].
  double permute[4][4] = {{0}};
  permute[3][3] = 1.0;
  int64_t start = 0, step[3];
  const int64_t ras_stride[3] = {ras->dim[1] * ras->dim[2], ras->dim[2], 1};
  for (int a = 0; a < 3; ++a) {
    const int w = world_axis[a];
    permute[w][a] = flip[a] ? -1.0 : 1.0;
    permute[w][3] = flip[a] ? (double)(ras->dim[w] - 1) : 0.0;
    step[a] = flip[a] ? -ras_stride[w] : ras_stride[w];
    if (flip[a]) start += (ras->dim[w] - 1) * ras_stride[w];
  }
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) {
      double sum = 0.0;
      for (int m = 0; m < 4; ++m) sum += ras->affine[r][m] * permute[m][c];
      out->affine[r][c] = sum;
    }
  const size_t elem = segc_dtype_size(ras->dtype);
  const char *src = ras->data;
  char *dst = out->data;
#pragma omp parallel for schedule(static)
  for (int64_t o0 = 0; o0 < dim[0]; ++o0)
    for (int64_t o1 = 0; o1 < dim[1]; ++o1)
      for (int64_t o2 = 0; o2 < dim[2]; ++o2) {
        const int64_t s = start + o0 * step[0] + o1 * step[1] + o2 * step[2];
        memcpy(dst + (size_t)((o0 * dim[1] + o1) * dim[2] + o2) * elem,
               src + (size_t)s * elem, elem);
      }
  return SEGC_OK;
}

typedef struct {
  int64_t lo[3], hi[3];  // inclusive voxel ranges; empty when lo > hi
} voxel_box;

// Patient point of voxel (i, j, k): p = to_patient * (i, j, k, 1).
typedef struct {
  double to_patient[3][4];
  double to_index[3][4];  // the inverse
} grid_pose;

static void make_pose(const phantom_anatomy *a, const int64_t dim[3],
                      grid_pose *pose) {
  // canonical q = (idx - (dim - 1) / 2) * 288 / dim
  // patient p = S^-1 R^T (q - shift)
  for (int r = 0; r < 3; ++r) {
    double offset = 0.0;
    for (int c = 0; c < 3; ++c) {
      const double rt = a->rotation[c][r] / a->body_scale[r];
      const double per_index = canonical_fov / (double)dim[c];
      pose->to_patient[r][c] = rt * per_index;
      offset += rt * (-0.5 * (double)(dim[c] - 1) * per_index - a->shift[c]);
    }
    pose->to_patient[r][3] = offset;
  }
  // idx = dim / 288 * (R S p + shift) + (dim - 1) / 2
  for (int r = 0; r < 3; ++r) {
    const double per_mm = (double)dim[r] / canonical_fov;
    for (int c = 0; c < 3; ++c)
      pose->to_index[r][c] = per_mm * a->rotation[r][c] * a->body_scale[c];
    pose->to_index[r][3] = per_mm * a->shift[r] + 0.5 * (double)(dim[r] - 1);
  }
}

static voxel_box shape_voxels(const phantom_shape *shape, const grid_pose *pose,
                              const int64_t dim[3]) {
  double lo[3], hi[3];
  phantom_shape_bounds(shape, lo, hi);
  double idx_lo[3] = {INFINITY, INFINITY, INFINITY};
  double idx_hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (int corner = 0; corner < 8; ++corner) {
    const double p[3] = {corner & 1 ? hi[0] : lo[0], corner & 2 ? hi[1] : lo[1],
                         corner & 4 ? hi[2] : lo[2]};
    for (int r = 0; r < 3; ++r) {
      const double v = pose->to_index[r][0] * p[0] + pose->to_index[r][1] * p[1] +
                       pose->to_index[r][2] * p[2] + pose->to_index[r][3];
      if (v < idx_lo[r]) idx_lo[r] = v;
      if (v > idx_hi[r]) idx_hi[r] = v;
    }
  }
  voxel_box box;
  for (int r = 0; r < 3; ++r) {
    const double l = floor(idx_lo[r]), h = ceil(idx_hi[r]);
    box.lo[r] = l < 0 ? 0 : (int64_t)l;
    box.hi[r] = h > (double)(dim[r] - 1) ? dim[r] - 1 : (int64_t)h;
  }
  return box;
}

static void paint_slice(const phantom_anatomy *a, const voxel_box *boxes,
                        const grid_pose *pose, const int64_t dim[3], int64_t i,
                        float *hu, uint8_t *label) {
  for (int n = 0; n < a->shape_count; ++n) {
    const phantom_shape *s = &a->shapes[n];
    const voxel_box *box = &boxes[n];
    if (i < box->lo[0] || i > box->hi[0]) continue;
    for (int64_t j = box->lo[1]; j <= box->hi[1]; ++j)
      for (int64_t k = box->lo[2]; k <= box->hi[2]; ++k) {
        double p[3];
        for (int r = 0; r < 3; ++r)
          p[r] = pose->to_patient[r][0] * (double)i +
                 pose->to_patient[r][1] * (double)j +
                 pose->to_patient[r][2] * (double)k + pose->to_patient[r][3];
        const double d = phantom_shape_distance(s, p);
        const int64_t v = (i * dim[1] + j) * dim[2] + k;
        if (d <= 0.0) {
          label[v] = (uint8_t)s->label;
          hu[v] = s->rim_mm > 0 && d > -s->rim_mm ? s->rim_hu : s->hu;
        } else if (d <= s->halo_mm && label[v] == 0) {
          hu[v] = s->halo_hu;
        }
      }
  }
}

// As in real scans, the intensity range is bounded by fixed values: the
// padding outside the round field of view (-1024) and the metal rails of the
// patient table (3071, the scanner's ceiling). MONAI's ScaleIntensity maps
// the volume's min and max to -1 and 1, and GaussianSmooth (applied in
// training, not at inference) would otherwise move a noise-driven maximum and
// shift every tissue's scaled intensity between the two pipelines.
static const float kOutsideHU = -1024.0f;
static const float kMetalHU = 3071.0f;
static const float kTableHU = 120.0f;

// A table under the patient (posterior, low j): a slab of dense plastic, the
// round field of view in each axial plane (i, j), outside which nothing is
// seen or labelled, and two metal rails of the table in the posterior
// corners, 5x5 voxels across (wider than GaussianSmooth's kernel, so their
// inner voxels keep the ceiling value in training too). All background in
// the labels.
static void add_table(const int64_t dim[3], float *hu, uint8_t *labels) {
  int64_t posterior = dim[1];  // lowest j that holds tissue
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < posterior; ++j)
      for (int64_t k = 0; k < dim[2]; ++k)
        if (hu[(i * dim[1] + j) * dim[2] + k] > -500.0f) {
          posterior = j;
          break;
        }
  const int64_t top = posterior - 2;  // the slab's upper row
  const int64_t half = (int64_t)(0.3 * (double)dim[0]);
  const int64_t centre = dim[0] / 2;
  const double radius = 0.5 * (double)(dim[0] < dim[1] ? dim[0] : dim[1]);
  const int64_t rail = 5;
  const bool rails = dim[0] >= 4 * rail && dim[1] >= 4 * rail;
  for (int64_t i = 0; i < dim[0]; ++i)
    for (int64_t j = 0; j < dim[1]; ++j) {
      float value = 0.0f;  // 0: leave the voxel as painted
      if (top >= 1 && j <= top && j >= top - 1 && i >= centre - half &&
          i <= centre + half)
        value = kTableHU;
      const double di = (double)i + 0.5 - 0.5 * (double)dim[0];
      const double dj = (double)j + 0.5 - 0.5 * (double)dim[1];
      if (di * di + dj * dj > radius * radius) value = kOutsideHU;
      const bool in_rail = rails && j >= 1 && j < 1 + rail &&
                           ((i >= 1 && i < 1 + rail) ||
                            (i >= dim[0] - 1 - rail && i < dim[0] - 1));
      if (in_rail) value = kMetalHU;
      if (value == 0.0f) continue;
      for (int64_t k = 0; k < dim[2]; ++k) {
        hu[(i * dim[1] + j) * dim[2] + k] = value;
        labels[(i * dim[1] + j) * dim[2] + k] = 0;  // nothing labelled there
      }
    }
}

segc_status segc_phantom_case(const segc_phantom_options *options,
                              int64_t case_index, segc_volume *ct,
                              segc_volume *label) {
  memset(ct, 0, sizeof *ct);
  memset(label, 0, sizeof *label);
  SEGC_TRY(segc_phantom_check_options(options));
  if (case_index < 0)
    return SEGC_FAIL(SEGC_ERR_INVALID, "phantom: case index %lld < 0",
                     (long long)case_index);
  phantom_anatomy *anatomy = malloc(sizeof *anatomy);
  const int64_t *dim = options->dim;
  const int64_t numel = dim[0] * dim[1] * dim[2];
  float *hu = malloc((size_t)numel * sizeof *hu);
  voxel_box *boxes = malloc(PHANTOM_MAX_SHAPES * sizeof *boxes);
  segc_volume ras_ct = {0}, ras_label = {0};
  segc_status status = SEGC_OK;
  if (!anatomy || !hu || !boxes) {
    status = SEGC_FAIL(SEGC_ERR_NOMEM, "phantom: out of memory for %lld voxels",
                       (long long)numel);
    goto done;
  }
  status = phantom_anatomy_build(options->seed, case_index, anatomy);
  if (status == SEGC_OK) status = segc_volume_alloc(&ras_label, SEGC_U8, dim);
  if (status == SEGC_OK) status = segc_volume_alloc(&ras_ct, SEGC_I16, dim);
  if (status != SEGC_OK) goto done;
  grid_pose pose;
  make_pose(anatomy, dim, &pose);
  for (int n = 0; n < anatomy->shape_count; ++n)
    boxes[n] = shape_voxels(&anatomy->shapes[n], &pose, dim);
  uint8_t *labels = ras_label.data;
  for (int64_t v = 0; v < numel; ++v) hu[v] = -1000.0f;  // air
  // Every voxel is painted by one thread, shapes in order: the result does
  // not depend on the thread count.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < dim[0]; ++i)
    paint_slice(anatomy, boxes, &pose, dim, i, hu, labels);

  for (int64_t v = 0; v < numel; ++v)
    if (!options->labelled[labels[v]]) labels[v] = 0;
  add_table(dim, hu, labels);

  const uint64_t noise_stream =
      segc_rng_stream(SEGC_RNG_PHANTOM, (uint64_t)case_index, 1);
  int16_t *values = ras_ct.data;
  const double sigma = anatomy->noise_sigma;
#pragma omp parallel for schedule(static)
  for (int64_t v = 0; v < numel; ++v) {
    double x = hu[v] + sigma * segc_rng_normal(options->seed, noise_stream,
                                               (uint64_t)v);
    x = x < -1024.0 ? -1024.0 : (x > 3071.0 ? 3071.0 : x);
    // Metal saturates the scanner's range and the outside of the round
    // reconstruction field holds the padding value: both are exact.
    if (hu[v] >= kMetalHU) x = kMetalHU;
    if (hu[v] <= kOutsideHU) x = kOutsideHU;
    values[v] = (int16_t)lround(x);
  }
  // RAS affine, the centre of the grid at world (0, 0, 0).
  for (int a = 0; a < 3; ++a) {
    ras_ct.affine[a][a] = options->spacing[a];
    ras_ct.affine[a][3] = -0.5 * (double)(dim[a] - 1) * options->spacing[a];
  }
  memcpy(ras_label.affine, ras_ct.affine, sizeof ras_ct.affine);
  if (strcasecmp(options->orientation, "RAS") == 0) {
    *ct = ras_ct;
    *label = ras_label;
    ras_ct = (segc_volume){0};
    ras_label = (segc_volume){0};
  } else {
    status = segc_phantom_reorient(&ras_ct, options->orientation, ct);
    if (status == SEGC_OK)
      status = segc_phantom_reorient(&ras_label, options->orientation, label);
    if (status != SEGC_OK) {
      segc_volume_free(ct);
      segc_volume_free(label);
    }
  }
done:
  segc_volume_free(&ras_ct);
  segc_volume_free(&ras_label);
  free(boxes);
  free(hu);
  free(anatomy);
  return status;
}

segc_status segc_phantom_write_dataset(const char *dir,
                                       const segc_phantom_options *options,
                                       int64_t cases, int64_t validation_count) {
  SEGC_TRY(segc_phantom_check_options(options));
  // Four-digit names keep the files in case order when sorted.
  if (cases < 1 || cases > 10000)
    return SEGC_FAIL(SEGC_ERR_INVALID, "phantom: %lld cases (1..10000 allowed)",
                     (long long)cases);
  if (validation_count < 0 || validation_count >= cases)
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "phantom: %lld validation cases of %lld leaves none to "
                     "train on",
                     (long long)validation_count, (long long)cases);
  char path[4096];
  snprintf(path, sizeof path, "%s/imagesTr", dir);
  SEGC_TRY(segc_data_make_dirs(path));
  snprintf(path, sizeof path, "%s/labelsTr", dir);
  SEGC_TRY(segc_data_make_dirs(path));

  segc_datalist list;
  segc_datalist_init(&list);
  segc_status status = SEGC_OK;
  for (int64_t c = 0; c < cases && status == SEGC_OK; ++c) {
    char image[64], label_name[64];
    snprintf(image, sizeof image, "imagesTr/case_%04lld.nii.gz", (long long)c);
    snprintf(label_name, sizeof label_name, "labelsTr/case_%04lld.nii.gz",
             (long long)c);
    segc_volume ct, label;
    status = segc_phantom_case(options, c, &ct, &label);
    if (status != SEGC_OK) break;
    snprintf(path, sizeof path, "%s/%s", dir, image);
    status = segc_nifti_write(path, &ct, NULL);
    snprintf(path, sizeof path, "%s/%s", dir, label_name);
    if (status == SEGC_OK) status = segc_nifti_write(path, &label, NULL);
    segc_volume_free(&ct);
    segc_volume_free(&label);
    const segc_datalist_split split = c >= cases - validation_count
                                          ? SEGC_DATALIST_VALIDATION
                                          : SEGC_DATALIST_TRAINING;
    if (status == SEGC_OK)
      status = segc_datalist_append(&list, split, image, label_name);
  }
  snprintf(path, sizeof path, "%s/datalist.json", dir);
  if (status == SEGC_OK) status = segc_datalist_write_json(&list, path);
  segc_datalist_free(&list);
  return status;
}
