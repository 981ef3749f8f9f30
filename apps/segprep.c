// segprep: data preparation. Synthetic phantom datasets, merging
// TotalSegmentator per-structure masks into bundle labels, resampling.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "data/datalist.h"
#include "data/label_merge.h"
#include "data/labels.h"
#include "data/nifti_io.h"
#include "data/regrid.h"
#include "phantom/phantom.h"

static const char *const main_usage =
    "usage: segprep <command> [options]   (segprep <command> --help)\n"
    "  phantom    write a synthetic CT dataset (imagesTr, labelsTr,\n"
    "             datalist.json) with the bundle's class indices\n"
    "  merge      merge per-structure masks (TotalSegmentator layout) into\n"
    "             one label map in the bundle's class order\n"
    "  resample   resample an image or label to a new spacing or shape\n";

static const char *const phantom_usage =
    "usage: segprep phantom --out DIR --cases N [--size X,Y,Z]\n"
    "         [--spacing S | --spacing SX,SY,SZ] [--seed S]\n"
    "         [--orientation CODE] [--val N] [--structures NAME,...]\n"
    "Writes DIR/imagesTr/case_XXXX.nii.gz (int16 HU), DIR/labelsTr/\n"
    "case_XXXX.nii.gz (uint8, bundle classes) and DIR/datalist.json whose\n"
    "last N cases (--val, default 20%) are \"validation\".\n"
    "  --size       RAS grid in voxels (default 96,96,96); the body is scaled\n"
    "               to the field of view\n"
    "  --spacing    mm (default 3)\n"
    "  --seed       default 1; case k depends only on the seed and k\n"
    "  --orientation  axis codes of the written arrays (default RAS), e.g.\n"
    "               LPS, LAS, SAR: flips and axis permutations with the\n"
    "               matching affine\n"
    "  --structures label only these structures (the rest of the anatomy\n"
    "               is still drawn, labelled background). Drawn: spleen,\n"
    "               kidneys, gallbladder, liver, stomach, aorta, inferior\n"
    "               vena cava, lung lobes, vertebrae L5-T9, iliac arteries,\n"
    "               small bowel, colon, ribs 9-12, hips, gluteus maximus,\n"
    "               autochthon, iliopsoas, urinary bladder\n";

static const char *const merge_usage =
    "usage: segprep merge <masks-dir> <out.nii.gz> [--labels FILE] [--strict]\n"
    "       segprep merge --dataset <dataset-dir> <out-dir> [--labels FILE]\n"
    "         [--strict]\n"
    "Masks are <name>.nii.gz files, one per structure (values > 0.5 are in\n"
    "the mask), all on one grid. The output is uint8 with the class indices\n"
    "of the label table (default: the bundle's 105 classes; --labels reads\n"
    "a JSON {\"labels\": [...]} such as configs/labels_104.json). Where masks\n"
    "overlap the higher class index wins (as TotalSegmentator's\n"
    "combine_masks_to_multilabel_file); overlaps are counted per pair.\n"
    "Unknown mask names are listed (an error with --strict).\n"
    "--dataset: every <dataset-dir>/<case>/ holds segmentations/ and\n"
    "ct.nii.gz; writes <out-dir>/labelsTr/<case>.nii.gz and a copy of the CT\n"
    "as <out-dir>/imagesTr/<case>.nii.gz.\n";

static const char *const resample_usage =
    "usage: segprep resample <in.nii.gz> <out.nii.gz>\n"
    "         (--spacing SX,SY,SZ | --shape X,Y,Z [--spacing SX,SY,SZ])\n"
    "         [--nearest] [--float]\n"
    "  --spacing only: MONAI's Spacing (corner voxel kept, shape\n"
    "               round(extent / spacing + 1))\n"
    "  --shape      output dims; the spacing is chosen so that the output\n"
    "               spans the input's extent (voxel centre to centre), or\n"
    "               is the one given with --spacing\n"
    "  --nearest    nearest neighbour (labels); default trilinear\n"
    "  --float      keep trilinear output as float32 (default: the input's\n"
    "               integer type, rounded)\n";

static int fail(void) {
  fprintf(stderr, "segprep: error: %s\n", segc_error_message());
  return 1;
}

static int usage_error(const char *usage, const char *fmt, const char *what) {
  fprintf(stderr, "segprep: error: ");
  fprintf(stderr, fmt, what);
  fprintf(stderr, "\n%s", usage);
  return 2;
}

static bool wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; ++i)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
  return false;
}

// "a,b,c" (or "a" repeated when `allow_one`) of positive numbers.
static bool parse_doubles(const char *text, bool allow_one, double out[3]) {
  const char *p = text;
  int n = 0;
  for (;;) {
    char *end;
    errno = 0;
    const double v = strtod(p, &end);
    if (end == p || errno != 0 || n == 3) return false;
    out[n++] = v;
    if (*end == '\0') break;
    if (*end != ',') return false;
    p = end + 1;
  }
  if (n == 1 && allow_one) out[1] = out[2] = out[0];
  return n == 3 || (n == 1 && allow_one);
}

static bool parse_int(const char *text, long long lo, long long hi,
                      long long *out) {
  char *end;
  errno = 0;
  const long long v = strtoll(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

static bool parse_ints(const char *text, int64_t out[3]) {
  double values[3];
  if (!parse_doubles(text, false, values)) return false;
  for (int a = 0; a < 3; ++a) {
    if (values[a] != (double)(int64_t)values[a] || values[a] < 1) return false;
    out[a] = (int64_t)values[a];
  }
  return true;
}

// The value after option argv[*i], or NULL (with a message) when missing.
static const char *option_value(int argc, char **argv, int *i,
                                const char *usage) {
  if (*i + 1 >= argc) {
    usage_error(usage, "option %s needs a value", argv[*i]);
    return NULL;
  }
  return argv[++*i];
}

// Structures the labels will hold (background not counted).
static int labelled_count(const segc_phantom_options *options) {
  int n = 0;
  for (int i = 0; i < segc_phantom_class_count(); ++i) {
    const int index = segc_labels_bundle_find(segc_phantom_class_name(i));
    n += index > 0 && options->labelled[index];
  }
  return n;
}

static int run_phantom(int argc, char **argv) {
  if (wants_help(argc, argv)) return fputs(phantom_usage, stdout), 0;
  segc_phantom_options options;
  segc_phantom_default_options(&options);
  const char *out = NULL;
  long long cases = -1, validation = -1;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    const bool known = !strcmp(arg, "--out") || !strcmp(arg, "--cases") ||
                       !strcmp(arg, "--size") || !strcmp(arg, "--spacing") ||
                       !strcmp(arg, "--seed") || !strcmp(arg, "--orientation") ||
                       !strcmp(arg, "--val") || !strcmp(arg, "--structures");
    if (!known) return usage_error(phantom_usage, "unexpected argument '%s'", arg);
    const char *value = option_value(argc, argv, &i, phantom_usage);
    if (!value) return 2;
    long long number;
    bool ok = true;
    if (!strcmp(arg, "--out")) {
      out = value;
    } else if (!strcmp(arg, "--cases")) {
      ok = parse_int(value, 1, 10000, &cases);
    } else if (!strcmp(arg, "--val")) {
      ok = parse_int(value, 0, 100000, &validation);
    } else if (!strcmp(arg, "--seed")) {
      ok = parse_int(value, 0, (long long)1 << 62, &number);
      options.seed = (uint64_t)number;
    } else if (!strcmp(arg, "--size")) {
      ok = parse_ints(value, options.dim);
    } else if (!strcmp(arg, "--spacing")) {
      ok = parse_doubles(value, true, options.spacing);
    } else if (!strcmp(arg, "--structures")) {
      if (segc_phantom_label_only(&options, value) != SEGC_OK) return fail();
    } else {
      ok = strlen(value) == 3;
      if (ok) strcpy(options.orientation, value);
    }
    if (!ok) {
      fprintf(stderr, "segprep: error: bad value '%s' for %s\n%s", value, arg,
              phantom_usage);
      return 2;
    }
  }
  if (!out) return usage_error(phantom_usage, "%s", "--out DIR is required");
  if (cases < 0) return usage_error(phantom_usage, "%s", "--cases N is required");
  if (validation < 0) validation = cases >= 2 ? (cases + 2) / 5 : 0;
  if (validation < 1 && cases >= 2) validation = 1;
  if (segc_phantom_check_options(&options) != SEGC_OK) return fail();
  const double start = segc_now();
  if (segc_phantom_write_dataset(out, &options, cases, validation) != SEGC_OK)
    return fail();
  printf("segprep: wrote %lld cases (%lld training, %lld validation) of "
         "%lldx%lldx%lld at %gx%gx%g mm, %s, seed %llu, %d labelled structures, to %s in "
         "%.2f s\n",
         cases, cases - validation, validation, (long long)options.dim[0],
         (long long)options.dim[1], (long long)options.dim[2],
         options.spacing[0], options.spacing[1], options.spacing[2],
         options.orientation, (unsigned long long)options.seed,
         labelled_count(&options), out, segc_now() - start);
  return 0;
}

static void print_report(const char *prefix, const segc_merge_report *report,
                         const segc_label_table *labels) {
  printf("%s%lld masks, %d classes present, %lld overlapping voxels, %lld "
         "unknown mask names\n",
         prefix, (long long)report->masks_merged, report->classes_present,
         (long long)report->overlap_voxels, (long long)report->unknown_count);
  for (int64_t i = 0; i < report->overlap_count; ++i) {
    const segc_merge_overlap *o = &report->overlaps[i];
    printf("  overlap: %lld voxels of %s (%d) taken by %s (%d)\n",
           (long long)o->voxels, labels->names[o->lower], o->lower,
           labels->names[o->higher], o->higher);
  }
  for (int64_t i = 0; i < report->unknown_count; ++i)
    fprintf(stderr, "segprep: warning: %s: mask name is not a class\n",
            report->unknown[i]);
}

typedef struct {
  const segc_label_table *labels;
  int64_t cases;
} dataset_progress;

static void on_case(const char *case_name, const segc_merge_report *report,
                    void *user) {
  dataset_progress *progress = user;
  char prefix[512];
  snprintf(prefix, sizeof prefix, "%s: ", case_name);
  print_report(prefix, report, progress->labels);
  progress->cases++;
}

static int run_merge(int argc, char **argv) {
  if (wants_help(argc, argv)) return fputs(merge_usage, stdout), 0;
  const char *labels_path = NULL, *positional[2] = {NULL, NULL};
  bool strict = false, dataset = false;
  int positional_count = 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--labels")) {
      labels_path = option_value(argc, argv, &i, merge_usage);
      if (!labels_path) return 2;
    } else if (!strcmp(argv[i], "--strict")) {
      strict = true;
    } else if (!strcmp(argv[i], "--dataset")) {
      dataset = true;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      return usage_error(merge_usage, "unknown option '%s'", argv[i]);
    } else if (positional_count < 2) {
      positional[positional_count++] = argv[i];
    } else {
      return usage_error(merge_usage, "unexpected argument '%s'", argv[i]);
    }
  }
  if (positional_count != 2)
    return usage_error(merge_usage, "%s",
                       dataset ? "need <dataset-dir> <out-dir>"
                               : "need <masks-dir> <out.nii.gz>");
  segc_label_table labels;
  const segc_status loaded = labels_path ? segc_labels_load(labels_path, &labels)
                                         : segc_labels_bundle(&labels);
  if (loaded != SEGC_OK) return fail();
  int rc = 0;
  if (dataset) {
    dataset_progress progress = {&labels, 0};
    if (segc_merge_dataset(positional[0], positional[1], &labels, strict,
                           on_case, &progress) != SEGC_OK) {
      rc = fail();
    } else {
      printf("segprep: merged %lld cases into %s\n", (long long)progress.cases,
             positional[1]);
    }
  } else {
    segc_volume label;
    segc_nifti_info info;
    segc_merge_report report;
    if (segc_merge_masks(positional[0], &labels, strict, &label, &info,
                         &report) != SEGC_OK) {
      rc = fail();
    } else {
      if (segc_nifti_write(positional[1], &label, &info) != SEGC_OK) {
        rc = fail();
      } else {
        print_report("segprep: merged ", &report, &labels);
      }
      segc_volume_free(&label);
      segc_merge_report_free(&report);
    }
  }
  segc_labels_free(&labels);
  return rc;
}

static int run_resample(int argc, char **argv) {
  if (wants_help(argc, argv)) return fputs(resample_usage, stdout), 0;
  segc_regrid_request request = {.mode = SEGC_INTERP_BILINEAR};
  const char *positional[2] = {NULL, NULL};
  int positional_count = 0;
  bool keep_float = false;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--spacing") || !strcmp(arg, "--shape")) {
      const char *value = option_value(argc, argv, &i, resample_usage);
      if (!value) return 2;
      const bool ok = !strcmp(arg, "--shape")
                          ? (request.have_shape = parse_ints(value, request.shape))
                          : (request.have_spacing =
                                 parse_doubles(value, true, request.spacing));
      if (!ok) {
        fprintf(stderr, "segprep: error: bad value '%s' for %s\n%s", value,
                arg, resample_usage);
        return 2;
      }
    } else if (!strcmp(arg, "--nearest")) {
      request.mode = SEGC_INTERP_NEAREST;
    } else if (!strcmp(arg, "--float")) {
      keep_float = true;
    } else if (arg[0] == '-' && arg[1] != '\0') {
      return usage_error(resample_usage, "unknown option '%s'", arg);
    } else if (positional_count < 2) {
      positional[positional_count++] = arg;
    } else {
      return usage_error(resample_usage, "unexpected argument '%s'", arg);
    }
  }
  if (positional_count != 2)
    return usage_error(resample_usage, "%s", "need <in.nii.gz> <out.nii.gz>");
  if (!request.have_shape && !request.have_spacing)
    return usage_error(resample_usage, "%s", "give --spacing or --shape");
  segc_volume in, out, converted = {0};
  segc_nifti_info info;
  if (segc_nifti_read(positional[0], &in, &info) != SEGC_OK) return fail();
  const double start = segc_now();
  segc_status s = segc_regrid(&in, &request, &out);
  const double seconds = segc_now() - start;
  if (s == SEGC_OK) {
    const segc_volume *result = &out;
    // Trilinear output is float; an integer CT goes back to its type.
    if (out.dtype != in.dtype && !keep_float) {
      s = segc_volume_copy(&out, in.dtype, &converted);
      result = &converted;
    }
    if (s == SEGC_OK) s = segc_nifti_write(positional[1], result, &info);
    if (s == SEGC_OK) {
      double spacing[3];
      segc_volume_spacing(result, spacing);
      printf("segprep: %s %lldx%lldx%lld -> %lldx%lldx%lld at %.6gx%.6gx%.6g "
             "mm (%s, %s) in %.2f s\n",
             positional[1], (long long)in.dim[0], (long long)in.dim[1],
             (long long)in.dim[2], (long long)result->dim[0],
             (long long)result->dim[1], (long long)result->dim[2], spacing[0],
             spacing[1], spacing[2],
             request.mode == SEGC_INTERP_NEAREST ? "nearest" : "trilinear",
             segc_dtype_name(result->dtype), seconds);
    }
    segc_volume_free(&converted);
    segc_volume_free(&out);
  }
  segc_volume_free(&in);
  return s == SEGC_OK ? 0 : fail();
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "segprep: error: no command given\n%s", main_usage);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
    return fputs(main_usage, stdout), 0;
  if (!strcmp(argv[1], "phantom")) return run_phantom(argc - 1, argv + 1);
  if (!strcmp(argv[1], "merge")) return run_merge(argc - 1, argv + 1);
  if (!strcmp(argv[1], "resample")) return run_resample(argc - 1, argv + 1);
  fprintf(stderr, "segprep: error: unknown command '%s'\n%s", argv[1],
          main_usage);
  return 2;
}
