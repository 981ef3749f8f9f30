#include "util/op_reference.h"

#include <math.h>
#include <stdlib.h>

int64_t op_offset(segc_shape s, segc_layout layout, int64_t n, int64_t c,
                  int64_t d, int64_t h, int64_t w) {
  segc_tensor t = segc_tensor_view(NULL, s, SEGC_F32, layout, SEGC_DEVICE_CPU);
  return segc_tensor_offset(&t, n, c, d, h, w);
}

void reference_conv(const conv_case *c, const double *x, const double *w,
                    const double *b, double *y) {
  const int64_t od = (c->d + 2 * c->p - c->k) / c->s + 1;
  const int64_t oh = (c->h + 2 * c->p - c->k) / c->s + 1;
  const int64_t ow = (c->w + 2 * c->p - c->k) / c->s + 1;
  const segc_shape o = segc_shape5(c->n, c->cout, od, oh, ow);
  const int k = c->k;
  for (int64_t n = 0; n < c->n; ++n)
    for (int64_t co = 0; co < c->cout; ++co)
      for (int64_t z = 0; z < o.d; ++z)
        for (int64_t v = 0; v < o.h; ++v)
          for (int64_t u = 0; u < o.w; ++u) {
            double acc = b ? b[co] : 0.0;
            for (int64_t ci = 0; ci < c->cin; ++ci)
              for (int kz = 0; kz < k; ++kz) {
                const int64_t iz = z * c->s - c->p + kz;
                if (iz < 0 || iz >= c->d) continue;
                for (int ky = 0; ky < k; ++ky) {
                  const int64_t iy = v * c->s - c->p + ky;
                  if (iy < 0 || iy >= c->h) continue;
                  for (int kx = 0; kx < k; ++kx) {
                    const int64_t ix = u * c->s - c->p + kx;
                    if (ix < 0 || ix >= c->w) continue;
                    acc += w[(((co * c->cin + ci) * k + kz) * k + ky) * k + kx] *
                           x[(((n * c->cin + ci) * c->d + iz) * c->h + iy) * c->w + ix];
                  }
                }
              }
            y[(((n * c->cout + co) * o.d + z) * o.h + v) * o.w + u] = acc;
          }
}

void gn_reference(const gn_case *gc, const double *x, const double *gamma,
                  const double *beta, double *y, double *z, double *slope) {
  const segc_shape s = gc->shape;
  const int64_t per_group = s.c / gc->groups;
  const double count = (double)(per_group * segc_shape_spatial(s));
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t g = 0; g < gc->groups; ++g) {
      double sum = 0.0, dev = 0.0;
      for (int pass = 0; pass < 3; ++pass) {
        const double mean = sum / count;
        for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c)
          for (int64_t d = 0; d < s.d; ++d)
            for (int64_t h = 0; h < s.h; ++h)
              for (int64_t w = 0; w < s.w; ++w) {
                const int64_t i = op_offset(s, gc->layout, n, c, d, h, w);
                if (pass == 0) {
                  sum += x[i];
                } else if (pass == 1) {
                  dev += (x[i] - mean) * (x[i] - mean);
                } else {
                  const double k = gamma[c] / sqrt(dev / count + gc->eps);
                  const double zi = k * (x[i] - mean) + beta[c];
                  y[i] = gc->relu && zi < 0.0 ? 0.0 : zi;
                  if (gc->residual) y[i] += x[i];
                  if (z) z[i] = zi;
                  if (slope) slope[i] = k;
                }
              }
      }
    }
}

double gn_move_from_kink(const gn_case *gc, float *x, const float *gamma,
                         const float *beta) {
  const int64_t n = segc_shape_numel(gc->shape), c = gc->shape.c;
  double *xd = calloc((size_t)n, sizeof(double));
  double *y = calloc((size_t)n, sizeof(double));
  double *z = calloc((size_t)n, sizeof(double));
  double *slope = calloc((size_t)n, sizeof(double));
  double *gd = calloc((size_t)c, sizeof(double));
  double *bd = calloc((size_t)c, sizeof(double));
  if (!xd || !y || !z || !slope || !gd || !bd) abort();
  for (int64_t k = 0; k < c; ++k) {
    gd[k] = gamma[k];
    bd[k] = beta[k];
  }
  for (int round = 0; round < 8; ++round) {
    for (int64_t i = 0; i < n; ++i) xd[i] = x[i];
    gn_reference(gc, xd, gd, bd, y, z, slope);
    for (int64_t i = 0; i < n; ++i)
      if (fabs(z[i]) < 0.15)
        x[i] += (float)((z[i] >= 0.0 ? 0.3 : -0.3) / slope[i]);
  }
  for (int64_t i = 0; i < n; ++i) xd[i] = x[i];
  gn_reference(gc, xd, gd, bd, y, z, slope);
  double closest = INFINITY;
  for (int64_t i = 0; i < n; ++i)
    if (fabs(z[i]) < closest) closest = fabs(z[i]);
  free(xd);
  free(y);
  free(z);
  free(slope);
  free(gd);
  free(bd);
  return closest;
}

// Source index pair and weights of output o on an axis of length len.
static void upsample_source(int64_t o, int64_t len, int64_t *i0, int64_t *i1,
                            double *w0, double *w1) {
  double src = (o + 0.5) * 0.5 - 0.5;
  if (src < 0.0) src = 0.0;
  *i0 = (int64_t)floor(src);
  *i1 = *i0 < len - 1 ? *i0 + 1 : *i0;
  *w1 = src - (double)*i0;
  *w0 = 1.0 - *w1;
}

void upsample_reference(segc_shape s, segc_layout layout, double factor,
                        const double *x, double *y) {
  const segc_shape o = segc_shape5(s.n, s.c, 2 * s.d, 2 * s.h, 2 * s.w);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t od = 0; od < o.d; ++od)
        for (int64_t oh = 0; oh < o.h; ++oh)
          for (int64_t ow = 0; ow < o.w; ++ow) {
            int64_t d[2], h[2], w[2];
            double wd[2], wh[2], ww[2];
            upsample_source(od, s.d, &d[0], &d[1], &wd[0], &wd[1]);
            upsample_source(oh, s.h, &h[0], &h[1], &wh[0], &wh[1]);
            upsample_source(ow, s.w, &w[0], &w[1], &ww[0], &ww[1]);
            double v = 0.0;
            for (int a = 0; a < 2; ++a)
              for (int b = 0; b < 2; ++b)
                for (int e = 0; e < 2; ++e)
                  v += wd[a] * wh[b] * ww[e] *
                       x[op_offset(s, layout, n, c, d[a], h[b], w[e])];
            y[op_offset(o, layout, n, c, od, oh, ow)] = factor * v;
          }
}

static int64_t dice_ce_voxels(const dice_ce_problem *p) {
  return segc_shape_spatial(p->shape);
}

int64_t dice_ce_logit_index(const dice_ce_problem *p, int64_t n, int64_t c,
                            int64_t v) {
  const int64_t classes = p->shape.c, voxels = dice_ce_voxels(p);
  if (p->layout == SEGC_LAYOUT_NCDHW) return (n * classes + c) * voxels + v;
  return (n * voxels + v) * classes + c;
}

double dice_ce_reference(const dice_ce_problem *p, const double *x,
                         double *dice_out, double *ce_out) {
  const int64_t samples = p->shape.n, classes = p->shape.c;
  const int64_t voxels = dice_ce_voxels(p), total = samples * classes * voxels;
  double *onehot = calloc((size_t)total, sizeof(double));  // (N, K, V)
  double *prob = malloc(sizeof(double) * (size_t)total);   // (N, K, V)
  if (!onehot || !prob) abort();
  for (int64_t n = 0; n < samples; ++n)
    for (int64_t v = 0; v < voxels; ++v) {
      onehot[(n * classes + p->labels[n * voxels + v]) * voxels + v] = 1.0;
      double max_logit = -INFINITY, sum = 0.0;
      for (int64_t c = 0; c < classes; ++c)
        max_logit = fmax(max_logit, x[dice_ce_logit_index(p, n, c, v)]);
      for (int64_t c = 0; c < classes; ++c)
        sum += exp(x[dice_ce_logit_index(p, n, c, v)] - max_logit);
      for (int64_t c = 0; c < classes; ++c)
        prob[(n * classes + c) * voxels + v] =
            exp(x[dice_ce_logit_index(p, n, c, v)] - max_logit) / sum;
    }
  double ce = 0.0;
  for (int64_t n = 0; n < samples; ++n)
    for (int64_t v = 0; v < voxels; ++v)
      ce -= log(prob[(n * classes + p->labels[n * voxels + v]) * voxels + v]);
  ce /= (double)(samples * voxels);
  const int64_t first = p->config.include_background ? 0 : 1;
  double dice = 0.0;
  for (int64_t n = 0; n < samples; ++n)
    for (int64_t c = first; c < classes; ++c) {
      double intersection = 0.0, ground = 0.0, predicted = 0.0;
      for (int64_t v = 0; v < voxels; ++v) {
        const int64_t i = (n * classes + c) * voxels + v;
        intersection += prob[i] * onehot[i];
        ground += onehot[i];
        predicted += prob[i];
      }
      dice += 1.0 - (2.0 * intersection + p->config.smooth_nr) /
                        (ground + predicted + p->config.smooth_dr);
    }
  dice /= (double)(samples * (classes - first));
  free(onehot);
  free(prob);
  if (dice_out) *dice_out = dice;
  if (ce_out) *ce_out = ce;
  return p->config.lambda_dice * dice + p->config.lambda_ce * ce;
}
