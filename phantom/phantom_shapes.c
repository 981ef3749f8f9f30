#include "phantom/phantom_shapes.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

static double dot3(const double a[3], const double b[3]) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

// sin to about 4e-6 (odd Taylor polynomial on [-pi/2, pi/2]): the shapes
// only need smooth waves, and libm's sin was a fifth of the phantom's time.
static double smooth_sin(double x) {
  const double inv_pi = 0.31830988618379067154, pi = 3.14159265358979323846;
  const double k = floor(x * inv_pi + 0.5);
  const double r = x - k * pi;
  const double r2 = r * r;
  const double p =
      r * (1.0 + r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 +
                                                           r2 / 362880))));
  return ((int64_t)k & 1) == 0 ? p : -p;
}

static double wobble_at(const phantom_wobble *w, const double q[3]) {
  if (w->amplitude == 0.0) return 0.0;
  double sum = 0.0;
  for (int m = 0; m < 3; ++m)
    sum += smooth_sin(dot3(w->wave[m], q) + w->phase[m]);
  return w->amplitude * sum / 3.0;
}

// The painter only needs the exact distance inside the band [-rim, halo]
// (at least [0, 0]); outside it, which side is enough. The wobble moves the
// surface by at most its amplitude, so it is computed only when the
// undeformed distance does not already decide.
typedef struct {
  double lo, hi;
} band;

// Distance estimate F / |grad F| with F = s - (1 + w), where s is the
// superellipsoid "radius" (1 on the undeformed surface).
static double blob_distance(const phantom_blob *b, const phantom_wobble *w,
                            band exact, const double p[3]) {
  const double rel[3] = {p[0] - b->centre[0], p[1] - b->centre[1],
                         p[2] - b->centre[2]};
  double u[3], grad_sq = 0.0, s;
  for (int a = 0; a < 3; ++a) u[a] = fabs(dot3(b->axes[a], rel)) / b->radii[a];
  if (b->exponent == 2.0) {
    s = sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    if (s < 1e-9) s = 1e-9;
    for (int a = 0; a < 3; ++a) {
      const double g = u[a] / (s * b->radii[a]);
      grad_sq += g * g;
    }
  } else {  // exponent 4: s = t^(1/4), ds/du_a = u_a^3 / s^3
    double t = 0.0;
    for (int a = 0; a < 3; ++a) t += (u[a] * u[a]) * (u[a] * u[a]);
    s = sqrt(sqrt(t));
    if (s < 1e-9) s = 1e-9;
    const double inv_s3 = 1.0 / (s * s * s);
    for (int a = 0; a < 3; ++a) {
      const double g = u[a] * u[a] * u[a] * inv_s3 / b->radii[a];
      grad_sq += g * g;
    }
  }
  const double grad = sqrt(grad_sq);
  if (grad < 1e-12) return -b->radii[0];
  const double amplitude = fabs(w->amplitude);
  const double nearest = (s - 1.0 - amplitude) / grad;
  const double farthest = (s - 1.0 + amplitude) / grad;
  if (farthest < exact.lo || nearest > exact.hi) return (s - 1.0) / grad;
  return (s - 1.0 - wobble_at(w, rel)) / grad;
}

static double tube_distance(const phantom_tube *t, const phantom_wobble *w,
                            band exact, const double p[3]) {
  double along[PHANTOM_TUBE_MAX_POINTS], radius[PHANTOM_TUBE_MAX_POINTS];
  const double amplitude = fabs(w->amplitude);
  double nearest = DBL_MAX, farthest = DBL_MAX;
  const int segments = t->point_count - 1;
  for (int s = 0; s < segments; ++s) {
    const double *a = t->points[s], *b = t->points[s + 1];
    const double ab[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
    const double ap[3] = {p[0] - a[0], p[1] - a[1], p[2] - a[2]};
    const double len_sq = dot3(ab, ab);
    // Cheap skip: beyond the band from anywhere on this segment.
    const double r_max = (t->radius[s] > t->radius[s + 1] ? t->radius[s]
                                                          : t->radius[s + 1]) *
                         (1.0 + amplitude);
    const double mid[3] = {ap[0] - 0.5 * ab[0], ap[1] - 0.5 * ab[1],
                           ap[2] - 0.5 * ab[2]};
    const double reach = 0.5 * sqrt(len_sq) + r_max + exact.hi;
    if (dot3(mid, mid) > reach * reach) {
      along[s] = DBL_MAX;
      radius[s] = 0.0;
      continue;
    }
    double f = len_sq > 0.0 ? dot3(ap, ab) / len_sq : 0.0;
    f = f < 0.0 ? 0.0 : (f > 1.0 ? 1.0 : f);
    const double d[3] = {ap[0] - f * ab[0], ap[1] - f * ab[1],
                         ap[2] - f * ab[2]};
    along[s] = sqrt(dot3(d, d));
    radius[s] = t->radius[s] + f * (t->radius[s + 1] - t->radius[s]);
    const double lower = along[s] - radius[s] * (1.0 + amplitude);
    const double upper = along[s] - radius[s] * (1.0 - amplitude);
    if (lower < nearest) nearest = lower;
    if (upper < farthest) farthest = upper;
  }
  double scale = 1.0;
  if (!(farthest < exact.lo || nearest > exact.hi)) {
    const double rel[3] = {p[0] - t->points[0][0], p[1] - t->points[0][1],
                           p[2] - t->points[0][2]};
    scale = 1.0 + wobble_at(w, rel);
  }
  double best = DBL_MAX;
  for (int s = 0; s < segments; ++s) {
    const double dist = along[s] - radius[s] * scale;
    if (dist < best) best = dist;
  }
  return best;
}

double phantom_shape_distance(const phantom_shape *shape, const double p[3]) {
  const band exact = {-(double)shape->rim_mm, (double)shape->halo_mm};
  double d = shape->kind == PHANTOM_BLOB
                 ? blob_distance(&shape->geometry.blob, &shape->wobble, exact, p)
                 : tube_distance(&shape->geometry.tube, &shape->wobble, exact, p);
  // Intersection with half-spaces: the larger distance wins. Taking the
  // max keeps the band decisions above: a value below the band stays below
  // or becomes the (exact) plane distance, one above stays above.
  for (int c = 0; c < shape->clip_count; ++c) {
    const double plane = dot3(shape->clip_normal[c], p) - shape->clip_offset[c];
    if (plane > d) d = plane;
  }
  return d;
}

void phantom_shape_bounds(const phantom_shape *shape, double lo[3],
                          double hi[3]) {
  const double grow = 1.0 + fabs(shape->wobble.amplitude);
  const double margin = shape->halo_mm + 1.0;
  if (shape->kind == PHANTOM_BLOB) {
    const phantom_blob *b = &shape->geometry.blob;
    for (int w = 0; w < 3; ++w) {
      // Half-width of the rotated bounding box of the local box.
      double half = 0.0;
      for (int a = 0; a < 3; ++a) half += fabs(b->axes[a][w]) * b->radii[a];
      lo[w] = b->centre[w] - half * grow - margin;
      hi[w] = b->centre[w] + half * grow + margin;
    }
    return;
  }
  const phantom_tube *t = &shape->geometry.tube;
  double radius = 0.0;
  for (int s = 0; s < t->point_count; ++s)
    if (t->radius[s] > radius) radius = t->radius[s];
  for (int w = 0; w < 3; ++w) {
    lo[w] = DBL_MAX;
    hi[w] = -DBL_MAX;
    for (int s = 0; s < t->point_count; ++s) {
      if (t->points[s][w] < lo[w]) lo[w] = t->points[s][w];
      if (t->points[s][w] > hi[w]) hi[w] = t->points[s][w];
    }
    lo[w] -= radius * grow + margin;
    hi[w] += radius * grow + margin;
  }
}

void phantom_rotation(double about_x, double about_y, double about_z,
                      double axes[3][3]) {
  const double cx = cos(about_x), sx = sin(about_x);
  const double cy = cos(about_y), sy = sin(about_y);
  const double cz = cos(about_z), sz = sin(about_z);
  // R = Rz * Ry * Rx; local axis a is column a of R, stored as row a.
  const double r[3][3] = {
      {cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx},
      {sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx},
      {-sy, cy * sx, cy * cx}};
  for (int a = 0; a < 3; ++a)
    for (int w = 0; w < 3; ++w) axes[a][w] = r[w][a];
}
