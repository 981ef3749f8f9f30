// segbench transforms: MONAI-style preprocessing on a CT-sized volume.
//
// The input is a 512x512x400 int16 CT at 0.8 x 0.8 x 1.5 mm, made by
// resampling ../shared/data/example_ct.nii.gz onto that grid (or, without
// the shared folder, a synthetic volume of the same size), and a uint8 label
// on the same grid. Timed: Spacing to 1.5 mm (bilinear image, nearest
// label), the whole inference chain, its label inverse, GaussianSmooth 0.4.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/bench_harness.h"
#include "core/parallel.h"
#include "data/intensity.h"
#include "data/nifti_io.h"
#include "data/transforms.h"

static segc_status make_input(const char *shared, segc_volume *ct, segc_volume *label) {
  const int64_t dim[3] = {512, 512, 400};
  double affine[4][4] = {{0.8, 0, 0, -200.0}, {0, 0.8, 0, -190.0},
                         {0, 0, 1.5, 0.0}, {0, 0, 0, 1}};
  segc_volume source;
  char path[4096];
  snprintf(path, sizeof path, "%s/data/example_ct.nii.gz", shared);
  if (segc_nifti_read(path, &source, NULL) == SEGC_OK) {
    affine[0][3] = source.affine[0][3];
    affine[1][3] = source.affine[1][3];
    affine[2][3] = source.affine[2][3];
    segc_volume fine;
    SEGC_TRY(segc_resample_to_grid(&source, affine, dim, SEGC_INTERP_BILINEAR, &fine,
                                   NULL));
    segc_volume_free(&source);
    segc_status status = segc_volume_copy(&fine, SEGC_I16, ct);
    segc_volume_free(&fine);
    SEGC_TRY(status);
    printf("input: example_ct resampled to 512x512x400 at 0.8x0.8x1.5 mm\n");
  } else {
    SEGC_TRY(segc_volume_alloc(ct, SEGC_I16, dim));
    memcpy(ct->affine, affine, sizeof affine);
    int16_t *v = ct->data;
    for (int64_t n = 0; n < segc_volume_numel(ct); ++n)
      v[n] = (int16_t)((n * 2654435761u) % 2400) - 1000;
    printf("input: synthetic 512x512x400 (no %s)\n", path);
  }
  SEGC_TRY(segc_volume_alloc(label, SEGC_U8, dim));
  memcpy(label->affine, ct->affine, sizeof affine);
  const int16_t *hu = ct->data;
  uint8_t *l = label->data;
  for (int64_t n = 0; n < segc_volume_numel(ct); ++n)
    l[n] = hu[n] > 200 ? 2 : (hu[n] > -200 ? 1 : 0);
  return SEGC_OK;
}

enum { bench_spacing, bench_nearest, bench_normalize, bench_scale, bench_chain,
       bench_inverse, bench_gaussian, bench_count };

int segc_bench_transforms(int argc, char **argv) {
  int threads = 0, repeat = 5;
  const char *shared = "../shared";
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--shared") && i + 1 < argc) shared = argv[++i];
    else {
      fprintf(stderr, "segbench transforms: error: unknown option '%s'\n"
              "options: --threads N --repeat N --shared DIR\n", argv[i]);
      return 2;
    }
  }
  if (repeat < 1 || repeat > 100) repeat = 5;
  segc_set_threads(threads);
  segc_volume ct, label;
  if (make_input(shared, &ct, &label) != SEGC_OK) {
    fprintf(stderr, "segbench transforms: error: %s\n", segc_error_message());
    return 1;
  }
  const double pixdim[3] = {1.5, 1.5, 1.5};
  double *times = malloc(sizeof(double) * (size_t)(repeat * bench_count));
  int64_t out_dim[3] = {0};
  for (int r = 0; r < repeat; ++r) {
    segc_volume out, net, back;
    segc_inference_record record;
    double t0 = segc_now();
    if (segc_spacing(&ct, pixdim, SEGC_INTERP_BILINEAR, &out, NULL) != SEGC_OK) goto fail;
    times[bench_spacing * repeat + r] = segc_now() - t0;
    memcpy(out_dim, out.dim, sizeof out_dim);
    t0 = segc_now();
    if (segc_normalize_nonzero(&out, NULL) != SEGC_OK) goto fail;
    times[bench_normalize * repeat + r] = segc_now() - t0;
    t0 = segc_now();
    if (segc_scale_intensity(&out, -1.0, 1.0, NULL) != SEGC_OK) goto fail;
    times[bench_scale * repeat + r] = segc_now() - t0;
    t0 = segc_now();
    if (segc_gaussian_smooth(&out, (double[3]){0.4, 0.4, 0.4}) != SEGC_OK) goto fail;
    times[bench_gaussian * repeat + r] = segc_now() - t0;
    segc_volume_free(&out);
    t0 = segc_now();
    if (segc_spacing(&label, pixdim, SEGC_INTERP_NEAREST, &out, NULL) != SEGC_OK) goto fail;
    times[bench_nearest * repeat + r] = segc_now() - t0;
    t0 = segc_now();
    if (segc_preprocess_inference(&ct, pixdim, &net, &record) != SEGC_OK) goto fail;
    times[bench_chain * repeat + r] = segc_now() - t0;
    t0 = segc_now();
    if (segc_invert_inference_label(&out, &record, &back) != SEGC_OK) goto fail;
    times[bench_inverse * repeat + r] = segc_now() - t0;
    segc_volume_free(&out);
    segc_volume_free(&net);
    segc_volume_free(&back);
  }
  static const char *names[bench_count] = {
      "Spacing 1.5 mm, bilinear (int16 CT)", "Spacing 1.5 mm, nearest (uint8 label)",
      "NormalizeIntensity nonzero (1.5 mm grid)", "ScaleIntensity -1..1 (1.5 mm grid)",
      "inference chain (orient+spacing+normalize+scale)",
      "label inverse (nearest back to 512x512x400)", "GaussianSmooth 0.4 (on 1.5 mm grid)"};
  printf("threads %d, output grid %lldx%lldx%lld, median of %d\n", segc_threads(),
         (long long)out_dim[0], (long long)out_dim[1], (long long)out_dim[2], repeat);
  printf("%-52s %10s %10s\n", "step", "median s", "min s");
  for (int b = 0; b < bench_count; ++b) {
    double *t = times + b * repeat;
    bench_sort(t, repeat);
    printf("%-52s %10.3f %10.3f\n", names[b], t[repeat / 2], t[0]);
  }
  free(times);
  segc_volume_free(&ct);
  segc_volume_free(&label);
  return 0;
fail:
  fprintf(stderr, "segbench transforms: error: %s\n", segc_error_message());
  free(times);
  return 1;
}
