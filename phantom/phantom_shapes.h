// Shapes of the synthetic CT phantom (internal to phantom/phantom*.c).
//
// Every shape lives in the patient frame: millimetres, x to the patient's
// right, y anterior, z superior (RAS+), origin at the body's axis. A shape
// answers an approximate signed distance (mm, negative inside) so that the
// painter can draw a bright rim inside the surface (cortical bone, kidney
// cortex) and a fat plane outside it.
#ifndef SEGC_PHANTOM_PHANTOM_SHAPES_H
#define SEGC_PHANTOM_PHANTOM_SHAPES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

enum { PHANTOM_TUBE_MAX_POINTS = 12, PHANTOM_MAX_CLIPS = 2 };

typedef enum { PHANTOM_BLOB, PHANTOM_TUBE } phantom_shape_kind;

// Superellipsoid (|u|^e + |v|^e + |w|^e <= 1 in its own axes).
typedef struct {
  double centre[3];
  double radii[3];
  double exponent;    // 2: ellipsoid; 4: closer to a box (only 2 or 4)
  double axes[3][3];  // row a: unit direction of local axis a
} phantom_blob;

// Tube around a polyline; the radius is interpolated along each segment.
typedef struct {
  int point_count;
  double points[PHANTOM_TUBE_MAX_POINTS][3];
  double radius[PHANTOM_TUBE_MAX_POINTS];
} phantom_tube;

// Smooth low-frequency deformation: the radius scales by 1 + w(p) with
// w = amplitude * mean of three plane waves.
typedef struct {
  double amplitude;
  double wave[3][3];  // wave vectors (rad/mm)
  double phase[3];
} phantom_wobble;

typedef struct {
  phantom_shape_kind kind;
  union {
    phantom_blob blob;
    phantom_tube tube;
  } geometry;
  phantom_wobble wobble;
  int clip_count;  // the shape keeps the side normal . p <= offset
  double clip_normal[PHANTOM_MAX_CLIPS][3];
  double clip_offset[PHANTOM_MAX_CLIPS];
  int label;        // bundle class index; 0 for unlabelled tissue
  float hu;         // interior Hounsfield units
  float rim_hu;     // used within rim_mm inside the surface
  float rim_mm;
  float halo_hu;    // used within halo_mm outside, over unlabelled voxels
  float halo_mm;
} phantom_shape;

enum { PHANTOM_MAX_SHAPES = 160 };

// One case: shapes painted in order (later ones win) in the patient frame,
// and the pose of the patient in the canonical 288 mm field of view:
// canonical = rotation * (body_scale * patient) + shift.
typedef struct {
  phantom_shape shapes[PHANTOM_MAX_SHAPES];
  int shape_count;
  double rotation[3][3];
  double body_scale[3];
  double shift[3];
  double noise_sigma;  // HU
} phantom_anatomy;

// Draws case `case_index` from stream (SEGC_RNG_PHANTOM, case_index, 0).
segc_status phantom_anatomy_build(uint64_t seed, int64_t case_index,
                                  phantom_anatomy *out);

// Approximate signed distance (mm) from p to the shape's surface. Exact (to
// the estimate) within [-rim_mm, halo_mm]; outside that band only the side
// of the band it falls on is guaranteed, which is all the painter uses.
double phantom_shape_distance(const phantom_shape *shape, const double p[3]);

// Axis-aligned box in the patient frame that holds the shape and its halo.
void phantom_shape_bounds(const phantom_shape *shape, double lo[3],
                          double hi[3]);

// Sets `axes` to the rotation by angles (radians) about x, then y, then z.
void phantom_rotation(double about_x, double about_y, double about_z,
                      double axes[3][3]);

#endif
