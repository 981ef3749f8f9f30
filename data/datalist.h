// Lists of (image, label) cases: MONAI/Decathlon datalist JSON files and the
// bundle's dataset_dir convention.
//
// JSON: {"training": [{"image": "imagesTr/a.nii.gz", "label": "..."}, ...],
//        "validation": [...], "testing": [...]}. As MONAI's
// load_decathlon_datalist, relative paths are joined to the folder holding
// the JSON file and normalised ("./", "a/../"); absolute paths stay. Other
// top-level keys (name, labels, numTraining, ...) are ignored, "training" is
// required, "validation" and "testing" are optional, and Decathlon's "test"
// (a list of image paths) is read as "testing". Testing entries may lack a
// label.
//
// dataset_dir (configs/train.json): images = sorted(glob(dir +
// '/imagesTr/*.nii.gz')), labels likewise from labelsTr, zipped in order; the
// last 10 validate, the rest train. Here the pairs must also agree by name
// (image "x.nii.gz" or nnU-Net's "x_0000.nii.gz" with label "x.nii.gz").
#ifndef SEGC_DATA_DATALIST_H
#define SEGC_DATA_DATALIST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef enum {
  SEGC_DATALIST_TRAINING = 0,
  SEGC_DATALIST_VALIDATION,
  SEGC_DATALIST_TESTING,
  SEGC_DATALIST_SPLITS
} segc_datalist_split;

// The bundle's validation count for dataset_dir.
enum { SEGC_DATASET_DIR_VALIDATION = 10 };

typedef struct {
  char *image;
  char *label;  // NULL when absent (testing only)
} segc_datalist_item;

typedef struct {
  segc_datalist_item *items[SEGC_DATALIST_SPLITS];
  int64_t count[SEGC_DATALIST_SPLITS];
  int64_t capacity[SEGC_DATALIST_SPLITS];
} segc_datalist;

// "training", "validation", "testing".
const char *segc_datalist_split_name(segc_datalist_split split);

void segc_datalist_init(segc_datalist *list);
void segc_datalist_free(segc_datalist *list);
// Copies the strings; label may be NULL for SEGC_DATALIST_TESTING only.
segc_status segc_datalist_append(segc_datalist *list, segc_datalist_split split,
                                 const char *image, const char *label);

// Reads a datalist JSON file. With check_files, every image and label must
// be an existing file, or for an image a folder (a DICOM series) (the error
// names the JSON file, the entry and the path).
segc_status segc_datalist_read_json(const char *path, bool check_files,
                                    segc_datalist *out);

// The dataset_dir convention; the last `validation_count` pairs validate
// (SEGC_DATASET_DIR_VALIDATION for the bundle). At least one pair must be
// left to train on.
segc_status segc_datalist_from_dataset_dir(const char *dir,
                                           int64_t validation_count,
                                           segc_datalist *out);

// A folder is read as dataset_dir, a file as datalist JSON.
segc_status segc_datalist_load(const char *source, int64_t validation_count,
                               bool check_files, segc_datalist *out);

// Writes the list as JSON, paths as stored (empty validation and testing
// splits are left out).
segc_status segc_datalist_write_json(const segc_datalist *list,
                                     const char *path);

#endif
