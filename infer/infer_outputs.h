// What seginfer derives from a label map: a label restricted to chosen
// structures, one binary mask per structure, per-structure statistics
// (voxels, volume, HU mean and std) and the JSON sidecar that names the
// labels and records the pipeline's settings.
#ifndef SEGC_INFER_INFER_OUTPUTS_H
#define SEGC_INFER_INFER_OUTPUTS_H

#include <stdbool.h>
#include <stdint.h>

#include "data/labels.h"
#include "data/nifti_io.h"
#include "infer/infer_pipeline.h"

// Sets every voxel whose class is not selected to 0 (u8 label, in place).
// selected has `classes` entries; labels >= classes are an error.
segc_status segc_label_keep(segc_volume *label, const bool *selected,
                            int classes);

typedef struct {
  int classes;
  double voxel_ml;        // |det| of the affine's 3x3 / 1000
  int64_t *voxels;        // per class
  double *mean_hu;        // NaN when the class is empty or no CT is given
  double *std_hu;         // population std, NaN likewise
} segc_structure_stats;

// Counts voxels per class of a u8 label; with `ct` (same dims, any dtype)
// also the mean and population std of its values per class. Sums are taken
// in double, voxel by voxel in memory order, so the result does not depend
// on the thread count.
segc_status segc_structure_stats_compute(const segc_volume *label,
                                         const segc_volume *ct, int classes,
                                         segc_structure_stats *out);
void segc_structure_stats_free(segc_structure_stats *stats);

// Writes the statistics of the selected classes (all foreground classes when
// `selected` is NULL) as JSON {"voxel_ml", "structures": {name: {"index",
// "voxels", "volume_ml", "mean_hu", "std_hu"}}} (null for NaN) and as CSV
// (index,name,voxels,volume_ml,mean_hu,std_hu; empty fields for NaN). Either
// path may be NULL.
segc_status segc_structure_stats_write(const segc_structure_stats *stats,
                                       const segc_label_table *names,
                                       const bool *selected,
                                       const char *json_path,
                                       const char *csv_path);

// Writes <folder>/<name>.nii.gz, a u8 0/1 mask, for each selected class
// (every foreground class when `selected` is NULL), empty ones included,
// with the label's affine. `like` keeps the input's sform/qform codes.
segc_status segc_write_structure_masks(const segc_volume *label,
                                       const segc_label_table *names,
                                       const bool *selected,
                                       const char *folder,
                                       const segc_nifti_info *like);

// What the sidecar records besides the labels.
typedef struct {
  const char *input;
  const char *output;
  const char *weights;
  const segc_infer_settings *settings;
  const segc_segresnet_config *network;
  const char *output_dtype;  // "u8" or "f32"
  const int64_t *input_dim;  // 3 entries
  const int64_t *net_dim;    // 3 entries
  const segc_sw_stats *sw;   // the windows run (NULL: not recorded)
} segc_sidecar_info;

// The sidecar JSON: {"labels": {"0": "background", ...} (the classes that
// can appear in the output: background and the selected ones), "input",
// "output", "pipeline": {...}}.
segc_status segc_write_sidecar(const char *path, const segc_label_table *names,
                               const bool *selected,
                               const segc_sidecar_info *info);

#endif
