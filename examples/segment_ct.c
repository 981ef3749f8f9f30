// Example 4: segment a CT held in memory with the installed library.
//   cc segment_ct.c $(pkg-config --cflags --libs segc) -I/usr/include/nifti
//      -lnifti2 -lznz -o segment_ct
//   ./segment_ct WEIGHTS.pt CT.nii.gz LABEL.nii.gz [CONFIG.json]
// niftilib reads the CT; segc gets its voxels (NIfTI order) and affine.
#include <nifti2_io.h>
#include <segc.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: %s WEIGHTS.pt CT.nii.gz LABEL.nii.gz [CONFIG.json]\n", argv[0]);
    return 2;
  }
  nifti_image *nim = nifti_image_read(argv[2], 1);
  if (!nim || (nim->datatype != DT_INT16 && nim->datatype != DT_FLOAT32) ||
      (nim->scl_slope != 0 && nim->scl_slope != 1) || nim->nx * nim->ny * nim->nz != (int64_t)nim->nvox) {
    fprintf(stderr, "segment_ct: %s: not an unscaled 3D int16/float32 NIfTI\n", argv[2]);
    return 1;
  }
  segc_model *model = segc_model_load(argv[1], argc == 5 ? argv[4] : NULL, NULL, 0);
  const int64_t dim[3] = {nim->nx, nim->ny, nim->nz};
  const nifti_dmat44 *xyz = nim->sform_code > 0 ? &nim->sto_xyz : &nim->qto_xyz;
  uint8_t *label = malloc((size_t)nim->nvox);
  if (!model || !label ||
      segc_segment(model, nim->data, nim->datatype == DT_INT16 ? SEGC_VOXELS_INT16 : SEGC_VOXELS_FLOAT32,
                   dim, &xyz->m[0][0], label) != 0) {
    fprintf(stderr, "segment_ct: %s\n", label ? segc_last_error() : "out of memory");
    return 1;
  }
  int64_t labelled = 0;
  for (int64_t v = 0; v < nim->nvox; ++v) labelled += label[v] != 0;
  printf("segc %s: %lld of %lld voxels labelled (%d classes)\n", segc_version(),
         (long long)labelled, (long long)nim->nvox, segc_model_classes(model));
  free(nim->data);  // the label takes the CT's place, on the same grid
  nim->data = label;
  nim->datatype = DT_UINT8;
  nim->nbyper = 1;
  nim->scl_slope = 0;
  if (nifti_set_filenames(nim, argv[3], 0, 1) != 0) return 1;
  nifti_image_write(nim);  // returns nothing: read the file back to check it
  nifti_image *written = nifti_image_read(argv[3], 1);
  const int ok = written && written->nvox == nim->nvox;
  if (!ok) fprintf(stderr, "segment_ct: %s could not be written\n", argv[3]);
  nifti_image_free(written);
  nifti_image_free(nim);
  segc_model_free(model);
  return ok ? 0 : 1;
}
