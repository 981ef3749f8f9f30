// The bundle's inference preprocessing as one call, and its inverse for the
// predicted label map (configs/inference.json):
//   Orientation("RAS") -> Spacing(pixdim, bilinear) ->
//   NormalizeIntensity(nonzero=True) -> ScaleIntensity(-1, 1)
// and Invertd(nearest_interp=True): Spacing inverse (nearest), then
// Orientation back to the input's axis codes.
#ifndef SEGC_DATA_TRANSFORMS_H
#define SEGC_DATA_TRANSFORMS_H

#include "data/intensity.h"
#include "data/orientation.h"
#include "data/spacing.h"

// Everything needed to map a result on the network grid back.
typedef struct {
  segc_orientation_record orientation;
  segc_spacing_record spacing;
  int64_t net_dim[3];         // the network input grid (D, H, W)
  double net_affine[4][4];
  segc_normalize_stats normalize;
  float scale_input_range[2];  // min and max mapped to -1 and 1
} segc_inference_record;

// `image`: a volume as read from NIfTI (any dtype). `net_input` receives the
// float32 network input (its affine is the network grid's). `record` may
// not be NULL.
segc_status segc_preprocess_inference(const segc_volume *image,
                                      const double pixdim[3],
                                      segc_volume *net_input,
                                      segc_inference_record *record);

// Maps a label map on the network grid (dims must be record->net_dim; its
// affine is taken from the record) back onto the input image's grid, with
// the input's affine as MONAI's Invertd computes it. Keeps the label dtype.
segc_status segc_invert_inference_label(const segc_volume *label,
                                        const segc_inference_record *record,
                                        segc_volume *out);

#endif
