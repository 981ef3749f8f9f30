// The bundle's inference for one CT (configs/inference.json): preprocessing
// (Orientation RAS -> Spacing bilinear -> NormalizeIntensity(nonzero) ->
// ScaleIntensity(-1, 1)), the streamed sliding window with argmax, and the
// inverse of the preprocessing for the label map (nearest), which lands on
// the input's grid with the input's affine.
//
// A model is loaded once (the network, its predictor arenas sized for one
// window batch) and runs any number of volumes. Memory per volume: the CT
// until it is preprocessed (freed then, unless the caller keeps it), the
// network input on the 1.5 / 3 mm grid, the sliding window's cell pool
// (segc_sw_scratch_bytes, freed after the volume), the u8 label on the
// network grid and on the input grid.
#ifndef SEGC_INFER_INFER_PIPELINE_H
#define SEGC_INFER_INFER_PIPELINE_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"
#include "infer/segresnet_predictor.h"
#include "infer/sliding_window.h"

typedef struct {
  double pixdim[3];      // network grid spacing (1.5 or 3.0 mm)
  segc_sw_config sw;     // roi, overlap, blending, padding, batch, cell
  segc_dtype compute;    // f32 or bf16
  // Why (segc_config_choose_compute): "auto: f32 (this CPU has no bf16
  // convolutions)", "f32 (--dtype f32 or amp false: exact parity)", ...
  char compute_reason[SEGC_DTYPE_REASON_MAX];
  // Where the network, its predictor and the sliding window's accumulator
  // live (segc_config_device); only the u8 label comes back to the host.
  segc_device device;
  // The user named a network (config file or --set network_def...): the
  // checkpoint must match it. Otherwise the checkpoint defines the network.
  bool check_network;
  // Where the model loader writes which network settings came from where
  // (infer/checkpoint_network.h), and its warnings; NULL: nowhere.
  FILE *notes, *warnings;
  // The SeriesInstanceUID to read when an input is a DICOM folder holding
  // several series (--series); NULL: the folder must hold one.
  const char *dicom_series;
} segc_infer_settings;

// The settings a configuration implies: pixdim from highres/pixdim, the
// sliding window from sw_roi/sw_overlap/sw_batch_size/sw_mode/
// sw_padding_mode, the device from device (segc_config_device), the
// compute dtype and its reason from amp on that device
// (segc_config_choose_compute: true is auto on the CPU, measured once per
// process; fp16 is refused).
// `channels` is the output channel count the caller's labels expect (the
// model loader refuses a checkpoint with another count). Notes go to stdout,
// warnings to stderr.
segc_status segc_infer_settings_from_config(const segc_config *config,
                                            int64_t channels,
                                            segc_infer_settings *out);

typedef struct {
  segc_segresnet net;
  segc_segresnet_predictor predictor;
  int sw_batch_size;     // the predictor's window batch
  bool ready;
} segc_infer_model;

// Reads a checkpoint and the network it holds (infer/checkpoint_network.h:
// the shapes from the tensors, checked against the config's network_def
// with settings->check_network; norm_groups from segc_config.json beside
// the checkpoint, else the config; the output count must equal
// settings->sw.channels when that is set). Every weight must be finite. The
// predictor is sized for windows (sw_batch_size, in_channels, roi).
segc_status segc_infer_model_load(segc_infer_model *model, const char *path,
                                  const segc_config *config,
                                  const segc_infer_settings *settings);
void segc_infer_model_destroy(segc_infer_model *model);

// Wall-clock seconds per stage, in the bundle's report's terms: Pre
// (preprocessing), Inferer (sliding window with blending and argmax),
// Invert (back to the input grid); Post and Write are filled by callers
// (outputs derived from the label, files written).
typedef struct {
  double pre, inferer, invert, post, write, total;
  segc_sw_stats sw;
  int64_t input_dim[3];
  int64_t net_dim[3];
} segc_infer_timings;

// Segments `*ct` (any dtype, HU). With keep_ct false the CT is freed as soon
// as it is preprocessed (*ct is then zeroed). With save_preprocessed set the
// network input is written there as NIfTI (f32, its own affine) before the
// sliding window runs. *label receives a u8 map on the CT's grid with the
// CT's affine copied exactly.
segc_status segc_infer_volume(segc_infer_model *model,
                              const segc_infer_settings *settings,
                              segc_volume *ct, bool keep_ct,
                              const char *save_preprocessed,
                              segc_volume *label, segc_infer_timings *timings);

// A volume the pipeline accepts: at least 2 voxels along every axis (a
// single slice or line is a 2D or 1D image, which a 3D network cannot
// segment meaningfully). `name` is used in the message.
segc_status segc_infer_check_input(const segc_volume *ct, const char *name);

#endif
