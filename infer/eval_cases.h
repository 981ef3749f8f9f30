// segeval's cases: pairs of prediction and label files (mode 1), and the
// bundle's evaluation of one (image, label) case with a network (mode 2).
#ifndef SEGC_INFER_EVAL_CASES_H
#define SEGC_INFER_EVAL_CASES_H

#include "data/validation_transforms.h"
#include "infer/infer_pipeline.h"

typedef struct {
  int count;
  char **pred;
  char **label;
  int unpaired_predictions;  // prediction files no label asked for
} segc_eval_pairs;

// Pairs prediction and label files. Each source is a file or a folder
// (its *.nii.gz / *.nii files, and those one folder down, as the bundle's
// <case>/<case>_trans.nii.gz). With exactly one file on each side they pair
// as given; otherwise by case name: the file name without .nii.gz / .nii and
// without a trailing "_<postfix>" (the bundle's "trans"). Every label needs
// a prediction (the error names the label and the name looked for); two
// predictions with one name are an error.
segc_status segc_eval_pair_files(const char *const *preds, int pred_count,
                                 const char *const *labels, int label_count,
                                 const char *postfix, segc_eval_pairs *out);
void segc_eval_pairs_free(segc_eval_pairs *pairs);

// Reads a label map as u8 (integer values 0..255 in any dtype; the bundle
// saves float32). `what` names the role in messages ("prediction").
segc_status segc_read_label_map(const char *path, const char *what,
                                segc_volume *out);

// The bundle's evaluation of one case: validation preprocessing, the
// sliding window with argmax, and the prediction and the label mapped back
// onto the label file's grid (zeros outside the crops), both u8 with the
// label file's affine. `t`: the validation transforms' settings.
segc_status segc_eval_case(segc_infer_model *model,
                           const segc_infer_settings *settings,
                           const segc_training_transforms *t,
                           const char *image_path,
                           const char *label_path, segc_volume *pred,
                           segc_volume *label);

#endif
