// The phantom's anatomy: where each structure sits, how big it is and what
// it looks like in CT, with the per-case random variation.
//
// Patient frame (mm, RAS+): +x is the patient's right, +y anterior, +z
// superior; the body's axis is x = y = 0 and the canonical field of view is
// [-144, 144] mm on every axis. So the patient's left organs (spleen,
// kidney_left, ...) have negative x. Shapes are listed back to front: later
// shapes overwrite earlier ones.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"
#include "data/labels.h"
#include "phantom/phantom_shapes.h"

static const double pi = 3.14159265358979323846;

typedef struct {
  phantom_anatomy *anatomy;
  uint64_t seed, stream, next_draw;
  double contrast;  // 0: native scan, 1: strong venous-phase enhancement
  segc_status status;
} builder;

static double draw(builder *b, double lo, double hi) {
  return lo + (hi - lo) * segc_rng_uniform(b->seed, b->stream, b->next_draw++);
}
static double jitter(builder *b, double amount) {
  return draw(b, -amount, amount);
}

static int class_of(builder *b, const char *name) {
  const int index = segc_labels_bundle_find(name);
  if (index < 0 && b->status == SEGC_OK)
    b->status = SEGC_FAIL(SEGC_ERR_INTERNAL, "phantom: no bundle class %s",
                          name);
  return index < 0 ? 0 : index;
}

static phantom_shape *new_shape(builder *b, int label, double hu) {
  phantom_anatomy *a = b->anatomy;
  if (a->shape_count >= PHANTOM_MAX_SHAPES) {
    if (b->status == SEGC_OK)
      b->status = SEGC_FAIL(SEGC_ERR_INTERNAL, "phantom: more than %d shapes",
                            PHANTOM_MAX_SHAPES);
    a->shape_count = PHANTOM_MAX_SHAPES - 1;  // keep writing somewhere valid
  }
  phantom_shape *s = &a->shapes[a->shape_count++];
  memset(s, 0, sizeof *s);
  s->label = label;
  s->hu = (float)hu;
  return s;
}

// Three plane waves of wavelength ~`wavelength` mm in random directions.
static void set_wobble(builder *b, phantom_shape *s, double amplitude,
                       double wavelength) {
  s->wobble.amplitude = amplitude;
  for (int m = 0; m < 3; ++m) {
    const double z = draw(b, -1.0, 1.0), phi = draw(b, 0.0, 2.0 * pi);
    const double r = sqrt(1.0 - z * z);
    const double k = 2.0 * pi / (wavelength * draw(b, 0.7, 1.3));
    s->wobble.wave[m][0] = k * r * cos(phi);
    s->wobble.wave[m][1] = k * r * sin(phi);
    s->wobble.wave[m][2] = k * z;
    s->wobble.phase[m] = draw(b, 0.0, 2.0 * pi);
  }
}

// Superellipsoid; angles in degrees (about x, then y, then z).
static phantom_shape *add_blob(builder *b, int label, double hu,
                               const double centre[3], const double radii[3],
                               double exponent, const double degrees[3]) {
  phantom_shape *s = new_shape(b, label, hu);
  if ((exponent != 2.0 && exponent != 4.0) && b->status == SEGC_OK)
    b->status = SEGC_FAIL(SEGC_ERR_INTERNAL, "phantom: blob exponent %g", exponent);
  s->kind = PHANTOM_BLOB;
  phantom_blob *blob = &s->geometry.blob;
  memcpy(blob->centre, centre, sizeof blob->centre);
  memcpy(blob->radii, radii, sizeof blob->radii);
  blob->exponent = exponent;
  phantom_rotation(degrees[0] * pi / 180, degrees[1] * pi / 180,
                   degrees[2] * pi / 180, blob->axes);
  return s;
}

static phantom_shape *add_tube(builder *b, int label, double hu, int count,
                               const double points[][3],
                               const double radius[]) {
  phantom_shape *s = new_shape(b, label, hu);
  s->kind = PHANTOM_TUBE;
  phantom_tube *tube = &s->geometry.tube;
  tube->point_count = count;
  for (int p = 0; p < count; ++p) {
    memcpy(tube->points[p], points[p], sizeof tube->points[p]);
    tube->radius[p] = radius[p];
  }
  return s;
}

// Keeps the side where normal . p <= offset (normal need not be unit).
static void add_clip(phantom_shape *s, const double normal[3], double offset) {
  const double n = sqrt(normal[0] * normal[0] + normal[1] * normal[1] +
                        normal[2] * normal[2]);
  const int c = s->clip_count++;
  for (int a = 0; a < 3; ++a) s->clip_normal[c][a] = normal[a] / n;
  s->clip_offset[c] = offset / n;
}

static void set_rim(phantom_shape *s, double rim_hu, double rim_mm) {
  s->rim_hu = (float)rim_hu;
  s->rim_mm = (float)rim_mm;
}
static void set_halo(phantom_shape *s, double halo_hu, double halo_mm) {
  s->halo_hu = (float)halo_hu;
  s->halo_mm = (float)halo_mm;
}

// Skin, subcutaneous fat, muscle wall and the fat of the abdominal cavity.
static void add_body(builder *b) {
  const double rx = 135 + jitter(b, 6), ry = 100 + jitter(b, 6);
  const double fat = draw(b, 10, 26), wall = draw(b, 10, 16);
  const double fat_hu = -100 + jitter(b, 10);
  const double zero[3] = {0, 0, 0};
  phantom_shape *outer = add_blob(b, 0, fat_hu, zero,
                                  (double[3]){rx, ry, 3000}, 2, zero);
  set_wobble(b, outer, 0.03, 260);
  phantom_shape *muscle = add_blob(
      b, 0, 40 + jitter(b, 5), zero,
      (double[3]){rx - fat, ry - fat, 3000}, 2, zero);
  muscle->wobble = outer->wobble;
  phantom_shape *cavity = add_blob(
      b, 0, -90 + jitter(b, 10), (double[3]){0, 6, 0},
      (double[3]){rx - fat - wall, ry - fat - wall - 4, 3000}, 2, zero);
  cavity->wobble = outer->wobble;
}

static void add_muscles(builder *b) {
  const double muscle_hu = 50 + jitter(b, 5);
  for (int side = 0; side < 2; ++side) {  // 0: left (x < 0), 1: right
    const double sx = side == 0 ? -1 : 1;
    phantom_shape *back = add_blob(
        b, class_of(b, side == 0 ? "autochthon_left" : "autochthon_right"),
        muscle_hu, (double[3]){sx * (33 + jitter(b, 3)), -82 + jitter(b, 3), 0},
        (double[3]){20 + jitter(b, 2), 16 + jitter(b, 2), 300}, 4,
        (double[3]){0, 0, 0});
    set_wobble(b, back, 0.06, 90);
    set_halo(back, -90, 3);

    const double psoas_points[5][3] = {
        {sx * 25, -40, 20}, {sx * 33, -38, -20}, {sx * 42, -30, -60},
        {sx * 55, -15, -100}, {sx * 68, 0, -140}};
    const double psoas_radius[5] = {8, 12 + jitter(b, 1.5), 15 + jitter(b, 2),
                                    15 + jitter(b, 2), 14};
    phantom_shape *psoas = add_tube(
        b, class_of(b, side == 0 ? "iliopsoas_left" : "iliopsoas_right"),
        muscle_hu, 5, psoas_points, psoas_radius);
    set_wobble(b, psoas, 0.08, 80);
    set_halo(psoas, -90, 3);

    phantom_shape *gluteus = add_blob(
        b,
        class_of(b, side == 0 ? "gluteus_maximus_left" : "gluteus_maximus_right"),
        muscle_hu, (double[3]){sx * (75 + jitter(b, 4)), -80, -145},
        (double[3]){45 + jitter(b, 4), 28 + jitter(b, 3), 55}, 2,
        (double[3]){0, 0, sx * 20});
    set_wobble(b, gluteus, 0.07, 100);
    set_halo(gluteus, -90, 3);
  }
}

// Lungs with lobes cut by an oblique fissure (both sides) and the
// horizontal fissure (right), then the heart between them.
static void add_chest(builder *b) {
  const double lung_hu = -850 + jitter(b, 25);
  const double fissure_z = 118 + jitter(b, 5), horizontal_z = 128 + jitter(b, 4);
  // Upper side of the oblique fissure: z + 0.9 y > fissure_z.
  const double oblique_normal[3] = {0, -0.9, -1};
  for (int side = 0; side < 2; ++side) {
    const double sx = side == 0 ? -1 : 1;
    const double centre[3] = {sx * (68 + jitter(b, 4)), -8 + jitter(b, 4),
                              150 + sx * 3 + jitter(b, 5)};
    const double radii[3] = {52 + jitter(b, 4), 62 + jitter(b, 4),
                             95 + jitter(b, 6)};
    const char *lower = side == 0 ? "lung_lower_lobe_left"
                                  : "lung_lower_lobe_right";
    phantom_shape *whole = add_blob(b, class_of(b, lower), lung_hu, centre,
                                    radii, 2, (double[3]){0, 0, 0});
    set_wobble(b, whole, 0.05, 150);
    phantom_shape *upper;
    if (side == 0) {
      upper = add_blob(b, class_of(b, "lung_upper_lobe_left"), lung_hu,
                       centre, radii, 2, (double[3]){0, 0, 0});
    } else {
      phantom_shape *middle =
          add_blob(b, class_of(b, "lung_middle_lobe_right"), lung_hu, centre,
                   radii, 2, (double[3]){0, 0, 0});
      middle->wobble = whole->wobble;
      add_clip(middle, oblique_normal, -fissure_z);
      upper = add_blob(b, class_of(b, "lung_upper_lobe_right"), lung_hu,
                       centre, radii, 2, (double[3]){0, 0, 0});
      add_clip(upper, (double[3]){0, 0, -1}, -horizontal_z);
    }
    upper->wobble = whole->wobble;
    add_clip(upper, oblique_normal, -fissure_z);
  }
  phantom_shape *heart = add_blob(
      b, 0, 40 + 60 * b->contrast, (double[3]){5 + jitter(b, 5), 25, 150},
      (double[3]){55, 45, 45}, 2, (double[3]){0, 0, 30});
  set_wobble(b, heart, 0.05, 120);
}

static void add_bowel_and_bladder(builder *b) {
  const int small_bowel = class_of(b, "small_bowel");
  const double bowel_hu = 30 + 20 * b->contrast + jitter(b, 8);
  for (int loop = 0; loop < 5; ++loop) {
    double points[4][3], radius[4];
    for (int p = 0; p < 4; ++p) {
      radius[p] = 11 + jitter(b, 1.5);
      for (int a = 0; a < 3; ++a) {
        static const double lo[3] = {-50, 0, -80}, hi[3] = {50, 50, -10};
        const double start = draw(b, lo[a], hi[a]);
        double v = p == 0 ? start : points[p - 1][a] + jitter(b, 30);
        points[p][a] = v < lo[a] ? lo[a] : (v > hi[a] ? hi[a] : v);
      }
    }
    phantom_shape *s = add_tube(b, small_bowel, bowel_hu, 4, points, radius);
    set_halo(s, -90, 2);
  }
  const double colon_points[11][3] = {
      {68, 15, -85},  {85, 5, -40},    {88, 2, 10},    {70, 35, 15},
      {20, 60, 10},   {-30, 60, 15},   {-78, 30, 35},  {-90, 0, 0},
      {-88, 0, -50},  {-45, 20, -90},  {-5, -15, -120}};
  double colon_radius[11];
  double shifted[11][3];
  const double dx = jitter(b, 5), dy = jitter(b, 5), dz = jitter(b, 6);
  for (int p = 0; p < 11; ++p) {
    colon_radius[p] = (p < 3 ? 19 : 15) + jitter(b, 2);
    shifted[p][0] = colon_points[p][0] + dx;
    shifted[p][1] = colon_points[p][1] + dy;
    shifted[p][2] = colon_points[p][2] + dz;
  }
  phantom_shape *colon = add_tube(b, class_of(b, "colon"), draw(b, -450, -150),
                                  11, shifted, colon_radius);
  set_rim(colon, 35, 3);
  set_wobble(b, colon, 0.08, 70);

  phantom_shape *bladder = add_blob(
      b, class_of(b, "urinary_bladder"), 8 + jitter(b, 5),
      (double[3]){jitter(b, 5), 42 + jitter(b, 4), -118 + jitter(b, 5)},
      (double[3]){38 + jitter(b, 5), 30 + jitter(b, 4), 27 + jitter(b, 4)}, 2,
      (double[3]){0, 0, 0});
  set_wobble(b, bladder, 0.06, 90);
  set_halo(bladder, -90, 2);
}

static void add_abdominal_organs(builder *b) {
  const double c = b->contrast;
  const double liver_hu = 55 + 45 * c + jitter(b, 6);
  const double liver_centre[3] = {52 + jitter(b, 5), 5 + jitter(b, 5),
                                  64 + jitter(b, 5)};
  phantom_shape *liver = add_blob(
      b, class_of(b, "liver"), liver_hu, liver_centre,
      (double[3]){70 + jitter(b, 5), 68 + jitter(b, 5), 50 + jitter(b, 4)},
      2, (double[3]){0, 0, jitter(b, 8)});
  set_wobble(b, liver, 0.08, 160);
  phantom_shape *left_lobe = add_blob(
      b, class_of(b, "liver"), liver_hu,
      (double[3]){-10 + jitter(b, 5), 35, liver_centre[2] + 18},
      (double[3]){45 + jitter(b, 5), 28, 28}, 2, (double[3]){0, 0, 0});
  set_wobble(b, left_lobe, 0.08, 120);

  phantom_shape *gallbladder = add_blob(
      b, class_of(b, "gallbladder"), 8 + jitter(b, 5),
      (double[3]){45 + jitter(b, 4), 48 + jitter(b, 3), 28 + jitter(b, 5)},
      (double[3]){13 + jitter(b, 2), 13 + jitter(b, 2), 26 + jitter(b, 3)}, 2,
      (double[3]){-30, 0, 0});
  set_wobble(b, gallbladder, 0.05, 60);

  const int stomach = class_of(b, "stomach");
  phantom_shape *body = add_blob(
      b, stomach, 25 + jitter(b, 10),
      (double[3]){-45 + jitter(b, 5), 30 + jitter(b, 4), 62 + jitter(b, 5)},
      (double[3]){38 + jitter(b, 4), 28 + jitter(b, 3), 42 + jitter(b, 4)}, 2,
      (double[3]){0, 0, 20});
  set_wobble(b, body, 0.08, 100);
  const double *stomach_centre = body->geometry.blob.centre;
  add_blob(b, stomach, -950,
           (double[3]){stomach_centre[0], stomach_centre[1] + 12,
                       stomach_centre[2] + 24},
           (double[3]){18, 10, 8}, 2, (double[3]){0, 0, 20});

  phantom_shape *spleen = add_blob(
      b, class_of(b, "spleen"), 45 + 70 * c + jitter(b, 6),
      (double[3]){-82 + jitter(b, 4), -35 + jitter(b, 4), 72 + jitter(b, 6)},
      (double[3]){26 + jitter(b, 3), 45 + jitter(b, 4), 48 + jitter(b, 4)}, 2,
      (double[3]){0, 0, -30});
  set_wobble(b, spleen, 0.1, 90);

  // Kidneys: cortex (rim) enhances more than the medulla.
  const double cortex_hu = 30 + 140 * c + jitter(b, 8);
  const double medulla_hu = 30 + 50 * c + jitter(b, 8);
  for (int side = 0; side < 2; ++side) {
    const double sx = side == 0 ? -1 : 1;
    phantom_shape *kidney = add_blob(
        b, class_of(b, side == 0 ? "kidney_left" : "kidney_right"), medulla_hu,
        (double[3]){sx * (62 + jitter(b, 4)), -38 + jitter(b, 3),
                    (side == 0 ? 12 : -2) + jitter(b, 6)},
        (double[3]){24 + jitter(b, 2), 20 + jitter(b, 2), 48 + jitter(b, 4)}, 2,
        (double[3]){0, -sx * 12, sx * 25});
    set_rim(kidney, cortex_hu, 6);
    set_wobble(b, kidney, 0.05, 80);
    set_halo(kidney, -90, 3);
  }
}

static void add_vessels(builder *b) {
  const double c = b->contrast;
  const double bx = -14 + jitter(b, 3), bz = -80 + jitter(b, 6);
  const double aorta_points[5][3] = {
      {bx, -14, bz}, {-15, -14, -20}, {-15, -16, 40}, {-16, -20, 100},
      {-18, -25, 170}};
  const double aorta_radius[5] = {10, 11, 11.5, 12, 12};
  phantom_shape *aorta = add_tube(b, class_of(b, "aorta"), 40 + 200 * c,
                                  5, aorta_points, aorta_radius);
  set_halo(aorta, -90, 2);
  for (int side = 0; side < 2; ++side) {
    const double sx = side == 0 ? -1 : 1;
    const double points[3][3] = {{bx, -14, bz},
                                 {bx + sx * 30, -5, bz - 35},
                                 {bx + sx * 55, 5, bz - 70}};
    const double radius[3] = {7, 6.5, 6};
    add_tube(b, class_of(b, side == 0 ? "iliac_artery_left"
                                      : "iliac_artery_right"),
             40 + 200 * c, 3, points, radius);
  }
  const double ivc_points[4][3] = {
      {20, -12, -80}, {22, -12, 0}, {24, -10, 60}, {22, -5, 110}};
  const double ivc_radius[4] = {12, 12, 12.5, 13};
  phantom_shape *ivc = add_tube(b, class_of(b, "inferior_vena_cava"),
                                40 + 100 * c, 4, ivc_points, ivc_radius);
  set_halo(ivc, -90, 2);
}

// L5 to T9, 28 mm apart, each a vertebral body, an arch, a spinous process
// and transverse processes, with discs between them; ribs 9 to 12.
static void add_skeleton(builder *b) {
  static const char *const levels[9] = {
      "vertebrae_L5", "vertebrae_L4",  "vertebrae_L3",
      "vertebrae_L2", "vertebrae_L1",  "vertebrae_T12",
      "vertebrae_T11", "vertebrae_T10", "vertebrae_T9"};
  const double bone_hu = 350 + jitter(b, 60), cortex_hu = 850 + jitter(b, 80);
  const double spine_y = -45 + jitter(b, 3), step = 28 + jitter(b, 1.5);
  for (int level = 0; level < 9; ++level) {
    const int label = class_of(b, levels[level]);
    const double z = -112 + level * step, bx = jitter(b, 1.5);
    const bool thoracic = level >= 5;
    const double disc_z = z + step / 2;
    add_blob(b, 0, 90, (double[3]){bx, spine_y, disc_z},
             (double[3]){18, 14, step / 2 - 10}, 4, (double[3]){0, 0, 0});
    phantom_shape *body = add_blob(
        b, label, bone_hu, (double[3]){bx, spine_y, z},
        (double[3]){19 - thoracic * 2, 15 - thoracic, 10.5}, 4,
        (double[3]){jitter(b, 4), 0, 0});
    set_rim(body, cortex_hu, 2.0);
    const double y = spine_y;
    const double arch[5][3] = {{bx - 11, y - 12, z}, {bx - 13, y - 22, z},
                               {bx, y - 31, z},      {bx + 13, y - 22, z},
                               {bx + 11, y - 12, z}};
    const double arch_radius[5] = {4, 4, 4, 4, 4};
    set_rim(add_tube(b, label, bone_hu, 5, arch, arch_radius), cortex_hu, 1.5);
    const double spinous[2][3] = {{bx, y - 31, z}, {bx, y - 51, z - 10}};
    const double spinous_radius[2] = {4, 3.5};
    set_rim(add_tube(b, label, bone_hu, 2, spinous, spinous_radius), cortex_hu,
            1.5);
    for (int side = 0; side < 2; ++side) {
      const double sx = side == 0 ? -1 : 1;
      const double process[2][3] = {
          {bx + sx * 13, y - 18, z},
          {bx + sx * (thoracic ? 26 : 32), y - (thoracic ? 27 : 21), z + 2}};
      const double process_radius[2] = {3.5, 3.5};
      set_rim(add_tube(b, label, bone_hu, 2, process, process_radius),
              cortex_hu, 1.5);
    }
  }
  // Ribs follow an ellipse around the trunk from the spine forwards and
  // drop as they go; 11 and 12 are short (floating ribs).
  static const double rib_end[4] = {2.4, 2.2, 1.7, 1.3};  // radians
  static const double rib_drop[4] = {50, 40, 25, 15};     // mm
  for (int rib = 9; rib <= 12; ++rib) {
    const double z0 = -112 + (17 - rib) * step + 4;  // at T<rib>
    for (int side = 0; side < 2; ++side) {
      const double sx = side == 0 ? -1 : 1;
      char name[32];
      snprintf(name, sizeof name, "rib_%s_%d", side == 0 ? "left" : "right",
               rib);
      double points[PHANTOM_TUBE_MAX_POINTS][3], radius[PHANTOM_TUBE_MAX_POINTS];
      const int arc_points = 9;
      points[0][0] = sx * 20;
      points[0][1] = spine_y - 5;
      points[0][2] = z0;
      radius[0] = 4.5;
      const double end = rib_end[rib - 9] + jitter(b, 0.1);
      const double drop = rib_drop[rib - 9] + jitter(b, 5);
      for (int p = 0; p < arc_points; ++p) {
        const double f = (double)p / (arc_points - 1);
        const double theta = 0.55 + f * (end - 0.55);
        points[p + 1][0] = sx * 112 * sin(theta);
        points[p + 1][1] = -10 - 80 * cos(theta);
        points[p + 1][2] = z0 - f * drop;
        radius[p + 1] = 4.5;
      }
      phantom_shape *s = add_tube(b, class_of(b, name), bone_hu + 100,
                                  arc_points + 1, points, radius);
      set_rim(s, cortex_hu, 1.0);
      set_wobble(b, s, 0.05, 60);
    }
  }
  // Iliac wings: thin curved plates flaring forwards and out.
  for (int side = 0; side < 2; ++side) {
    const double sx = side == 0 ? -1 : 1;
    phantom_shape *wing = add_blob(
        b, class_of(b, side == 0 ? "hip_left" : "hip_right"), bone_hu,
        (double[3]){sx * (90 + jitter(b, 4)), -25 + jitter(b, 4),
                    -110 + jitter(b, 4)},
        (double[3]){9, 45 + jitter(b, 4), 40 + jitter(b, 4)}, 2,
        (double[3]){0, 0, -sx * 25});
    set_rim(wing, cortex_hu, 2.5);
    set_wobble(b, wing, 0.06, 90);
  }
}

segc_status phantom_anatomy_build(uint64_t seed, int64_t case_index,
                                  phantom_anatomy *out) {
  memset(out, 0, sizeof *out);
  builder b = {.anatomy = out,
               .seed = seed,
               .stream = segc_rng_stream(SEGC_RNG_PHANTOM, (uint64_t)case_index, 0),
               .status = SEGC_OK};
  // Pose: small rotations about z and x, shifts, body size.
  phantom_rotation(jitter(&b, 3) * pi / 180, 0, jitter(&b, 6) * pi / 180,
                   out->rotation);
  out->shift[0] = jitter(&b, 8);
  out->shift[1] = jitter(&b, 8);
  out->shift[2] = jitter(&b, 10);
  out->body_scale[0] = draw(&b, 0.93, 1.05);
  out->body_scale[1] = out->body_scale[0] * draw(&b, 0.95, 1.05);
  out->body_scale[2] = 1.0;
  out->noise_sigma = draw(&b, 10, 20);
  b.contrast = draw(&b, 0, 1);

  add_body(&b);
  add_muscles(&b);
  add_chest(&b);
  add_bowel_and_bladder(&b);
  add_abdominal_organs(&b);
  add_vessels(&b);
  add_skeleton(&b);
  return b.status;
}
