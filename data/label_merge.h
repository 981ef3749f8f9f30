// The bundle's data preparation: per-structure binary masks (TotalSegmentator
// layout, <case>/segmentations/<name>.nii.gz) merged into one u8 label map in
// the bundle's class order.
//
// Rule, as TotalSegmentator's combine_masks_to_multilabel_file: a voxel is in
// a mask when its value is > 0.5 (u8, integer or float masks alike); masks
// are applied in class-index order, so where masks overlap the higher class
// index wins. Each time a mask claims a voxel that an earlier (lower) class
// already holds, the pair (lower, higher) is counted in the report. Missing
// classes stay absent; files whose name is not a class are listed as
// unknown (an error with `strict`). All masks must share one grid: the same
// dims and affines equal within 1e-4 (mm) element by element.
#ifndef SEGC_DATA_LABEL_MERGE_H
#define SEGC_DATA_LABEL_MERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "data/labels.h"
#include "data/nifti_io.h"
#include "data/volume.h"

// Largest difference allowed between two masks' affine elements.
#define SEGC_MERGE_AFFINE_TOLERANCE 1e-4

typedef struct {
  int lower, higher;  // class indices; `higher` won the voxels
  int64_t voxels;
} segc_merge_overlap;

typedef struct {
  int64_t masks_merged;          // known masks read
  int classes_present;           // classes with at least one voxel
  int64_t *class_voxels;         // per class index, after the overlap rule
  int class_count;
  segc_merge_overlap *overlaps;  // sorted by (lower, higher)
  int64_t overlap_count;
  int64_t overlap_voxels;        // sum over the pairs
  char **unknown;                // mask names that are not classes (sorted)
  int64_t unknown_count;
} segc_merge_report;

void segc_merge_report_free(segc_merge_report *report);

// Merges masks_dir/<name>.nii.gz (or .nii) into `label` (u8, the masks'
// grid). `grid_info` (may be NULL) receives the header of the first mask
// read, for writing the label with the same qform/sform codes.
segc_status segc_merge_masks(const char *masks_dir,
                             const segc_label_table *labels, bool strict,
                             segc_volume *label, segc_nifti_info *grid_info,
                             segc_merge_report *report);

// Called after each case of segc_merge_dataset.
typedef void (*segc_merge_case_done)(const char *case_name,
                                     const segc_merge_report *report,
                                     void *user);

// Every folder DIR/<case> (sorted) must hold segmentations/ and ct.nii.gz.
// Writes OUT/labelsTr/<case>.nii.gz (merged) and OUT/imagesTr/<case>.nii.gz
// (a byte copy of ct.nii.gz, after checking it is on the masks' grid).
segc_status segc_merge_dataset(const char *dataset_dir, const char *out_dir,
                               const segc_label_table *labels, bool strict,
                               segc_merge_case_done on_case, void *user);

#endif
