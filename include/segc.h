/* segc.h: segc used as a library (C11).
 *
 * segc segments CT volumes with the MONAI wholeBody_ct_segmentation bundle's
 * SegResNet and trains it, in C. This header is the whole public interface
 * of libsegc (static and shared): nothing else is installed, and no other
 * segc symbol is exported from libsegc.so. Build against the installed
 * library with
 *     cc prog.c $(pkg-config --cflags --libs segc)
 * (static: pkg-config --static ...), or in CMake with
 *     find_package(segc REQUIRED)  target_link_libraries(prog segc::segc)
 *
 * Errors: every call that can fail returns 0 on success and a non-zero code
 * on failure (or NULL for a constructor), and records one line saying what
 * was wrong (the file, the setting, the value), read with segc_last_error().
 * The message is per thread. Nothing calls exit(); bad input never aborts.
 *
 * Threads: a segc_model may be used by one thread at a time. segc computes
 * with OpenMP; the thread count is the config's "threads" setting (0, the
 * default: all cores) and is set for the whole process by segc_model_load
 * and segc_train.
 */
#ifndef SEGC_PUBLIC_SEGC_H
#define SEGC_PUBLIC_SEGC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SEGC_API __attribute__((visibility("default")))
#else
#define SEGC_API
#endif

/* The version of this header; segc_version() gives the library's. */
#define SEGC_VERSION_MAJOR 0
#define SEGC_VERSION_MINOR 10
#define SEGC_VERSION_PATCH 0
#define SEGC_VERSION_STRING "0.10.0"

/* "MAJOR.MINOR.PATCH" of the library linked in. */
SEGC_API const char *segc_version(void);

/* What the last failing call on this thread said: one line, no newline;
 * "no error recorded" when no call failed since the last call that cleared
 * it (every call but this one clears it on entry). Valid until the next
 * segc call on this thread. */
SEGC_API const char *segc_last_error(void);

/* ---- Inference ---------------------------------------------------------- */

/* A loaded network with its inference settings (opaque). */
typedef struct segc_model segc_model;

/* Loads a checkpoint for inference.
 *
 * weights: a PyTorch state dict saved as .pt (the bundle's model.pt, or one
 *   segtrain wrote). The network's shape (in/out channels, init_filters,
 *   blocks_down, blocks_up) is read from the tensors; norm_groups comes from
 *   the segc_config.json segtrain saves beside its checkpoints when there is
 *   one, else from the config.
 * config_path: NULL, or a config JSON file (segc's own, e.g.
 *   configs/inference.json, or the MONAI bundle's inference.json). It sets
 *   the inference settings (highres/pixdim, sw_roi, sw_overlap,
 *   sw_batch_size, sw_mode, sw_padding_mode, amp, threads) and names the
 *   network: the checkpoint must then match its network_def.
 * overrides, override_count: "key=value" strings applied after the file,
 *   as seginfer's --set ("sw_overlap=0.5", "network_def.out_channels=2");
 *   overrides may be NULL when override_count is 0. An override of
 *   network_def also makes the checkpoint be checked against it.
 * The settings are those seginfer uses for the same config and overrides,
 * and the result of segc_segment equals the label seginfer writes.
 * Returns NULL on failure (segc_last_error() says why). */
SEGC_API segc_model *segc_model_load(const char *weights,
                                     const char *config_path,
                                     const char *const *overrides,
                                     int override_count);

/* Frees the model; NULL is allowed. */
SEGC_API void segc_model_free(segc_model *model);

/* Output classes of the network, background (0) included: labels are
 * 0 .. segc_model_classes() - 1. */
SEGC_API int segc_model_classes(const segc_model *model);

/* Voxel types segc_segment reads. */
typedef enum {
  SEGC_VOXELS_INT16 = 1,   /* int16_t Hounsfield units */
  SEGC_VOXELS_FLOAT32 = 2  /* float Hounsfield units, all finite */
} segc_voxel_type;

/* Segments one CT volume held in memory with the bundle's inference
 * pipeline: Orientation to RAS, Spacing to the network grid (1.5 mm, 3 mm
 * with highres false; bilinear), NormalizeIntensity (nonzero voxels),
 * ScaleIntensity to [-1, 1], a sliding window over the network with
 * blending, argmax, then the inverse of the orientation and spacing
 * (nearest) back onto the input's own grid.
 *
 * Layout of `voxels` and `labels` (both dim[0] * dim[1] * dim[2] values):
 *   NIfTI's order, i fastest: voxel (i, j, k), 0 <= i < dim[0],
 *   0 <= j < dim[1], 0 <= k < dim[2], is element i + dim[0] * (j + dim[1] * k).
 *   This is the order a .nii file stores and niftilib's nifti_image.data
 *   holds (dim[a] = nim->dim[a + 1]); from numpy, nibabel's array indexed
 *   [i, j, k] flattened with ravel(order='F').
 * affine: 16 doubles, a 4x4 matrix row by row (element 4 * row + column:
 *   a C double[4][4], passed as &a[0][0]) mapping voxel (i, j, k, 1) to
 *   world millimetres (x, y, z, 1) in NIfTI's RAS+ frame: x grows towards
 *   the patient's right, y towards anterior, z towards superior. This is
 *   nibabel's img.affine and niftilib's sto_xyz (or qto_xyz when the file
 *   has no sform): any orientation is accepted (LPS, axis permutations,
 *   obliques); the bottom row must be 0 0 0 1 and the 3x3 part invertible.
 *   The column lengths are the voxel spacing in mm.
 * type: the element type of `voxels`.
 * labels: caller-owned, dim[0] * dim[1] * dim[2] bytes; receives the class
 *   index of every input voxel, on the input's grid and in the same order
 *   as `voxels` (so it is saved with the input's affine). Untouched on
 *   failure.
 * Every dim must be at least 2 (a 3D network segments no single slice).
 * Memory: the network input on the 1.5 / 3 mm grid, the sliding window's
 * scratch and a few copies of the volume, freed before returning. */
SEGC_API int segc_segment(segc_model *model, const void *voxels,
                          segc_voxel_type type, const int64_t dim[3],
                          const double *affine, uint8_t *labels);

/* ---- Training ----------------------------------------------------------- */

/* segc_train flags. */
#define SEGC_TRAIN_RESUME 1u    /* continue from the saved training state */
#define SEGC_TRAIN_OVERWRITE 2u /* start anew over an earlier run's logs */
#define SEGC_TRAIN_QUIET 4u     /* plain progress lines, no progress bar */

/* Trains as segtrain does: config_path (required) is segc's train config
 * or the MONAI bundle's train.json; overrides as for segc_model_load
 * ("max_epochs=2", "dataset_dir=/data/phantom"); max_steps stops after that
 * many steps in this run (0: none). Writes ckpt_dir/model.pt (or
 * model_lowres.pt: the best validation Dice), the resumable state, the
 * config and the logs into ckpt_dir and output_dir; progress goes to
 * stderr. Returns 0 when the run finished (its epochs, or max_steps). */
SEGC_API int segc_train(const char *config_path, const char *const *overrides,
                        int override_count, unsigned flags, int64_t max_steps);

#ifdef __cplusplus
}
#endif

#endif
