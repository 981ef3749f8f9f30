#include "io/model_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The parameter's shape as PyTorch stores it: (O, I, k, k, k) or (C,).
static int torch_shape(const segc_param *p, int64_t shape[5]) {
  const segc_shape s = p->value.shape;
  if (p->torch_ndim == 5) {
    shape[0] = s.n; shape[1] = s.c; shape[2] = s.d; shape[3] = s.h;
    shape[4] = s.w;
    return 5;
  }
  shape[0] = s.c;
  return 1;
}

static void format_shape(const int64_t *shape, int ndim, char *buf,
                         size_t bytes) {
  size_t used = (size_t)snprintf(buf, bytes, "(");
  for (int i = 0; i < ndim && used < bytes; ++i)
    used += (size_t)snprintf(buf + used, bytes - used, "%s%lld", i ? ", " : "",
                             (long long)shape[i]);
  if (used < bytes) snprintf(buf + used, bytes - used, ")");
}

// One pass over the raw bits: an all-ones exponent is NaN (mantissa set)
// or infinity.
void segc_count_non_finite(const void *data, segc_dtype dtype, size_t count,
                           int64_t *nans, int64_t *infs) {
  int64_t nan_count = 0, inf_count = 0;
  if (dtype == SEGC_F32) {
    const uint32_t *bits = data;
    for (size_t i = 0; i < count; ++i)
      if ((bits[i] & 0x7f800000u) == 0x7f800000u) {
        if (bits[i] & 0x007fffffu) ++nan_count;
        else ++inf_count;
      }
  } else if (dtype == SEGC_F16 || dtype == SEGC_BF16) {
    const uint16_t exponent = dtype == SEGC_F16 ? 0x7c00u : 0x7f80u;
    const uint16_t mantissa = dtype == SEGC_F16 ? 0x03ffu : 0x007fu;
    const uint16_t *bits = data;
    for (size_t i = 0; i < count; ++i)
      if ((bits[i] & exponent) == exponent) {
        if (bits[i] & mantissa) ++nan_count;
        else ++inf_count;
      }
  }
  *nans = nan_count;
  *infs = inf_count;
}

// "3 NaN values", "1 infinite value", "2 NaN values and 1 infinite value".
static void describe_non_finite(int64_t nans, int64_t infs, char *text,
                                size_t size) {
  size_t used = 0;
  if (nans)
    used = (size_t)snprintf(text, size, "%lld NaN value%s", (long long)nans,
                            nans == 1 ? "" : "s");
  if (infs && used < size)
    snprintf(text + used, size - used, "%s%lld infinite value%s",
             nans ? " and " : "", (long long)infs, infs == 1 ? "" : "s");
}

static segc_status refuse_non_finite(const char *source, const char *what,
                                     const char *name, int64_t nans,
                                     int64_t infs) {
  char counts[96];
  describe_non_finite(nans, infs, counts, sizeof counts);
  return SEGC_FAIL(SEGC_ERR_INVALID,
                   "%s: %s '%s' has %s; the network would compute garbage "
                   "(did the training that wrote it diverge?)",
                   source, what, name, counts);
}

segc_status segc_segresnet_check_finite(const segc_segresnet *net,
                                        const float *values,
                                        const char *source, const char *what) {
  for (int i = 0; i < net->param_count; ++i) {
    const segc_param *p = &net->params[i];
    const size_t offset = (size_t)((const float *)p->value.data - net->weights);
    int64_t nans, infs;
    segc_count_non_finite(values + offset, SEGC_F32,
                          (size_t)segc_tensor_numel(&p->value), &nans, &infs);
    if (nans || infs) return refuse_non_finite(source, what, p->name, nans, infs);
  }
  return SEGC_OK;
}

static segc_status check_tensor(const segc_param *p, const segc_pt_tensor *t,
                                const char *source) {
  int64_t want[5];
  const int ndim = torch_shape(p, want);
  bool same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; ++i) same = t->shape[i] == want[i];
  if (!same) {
    char got_s[128], want_s[128];
    format_shape(t->shape, t->ndim, got_s, sizeof got_s);
    format_shape(want, ndim, want_s, sizeof want_s);
    return SEGC_FAIL(SEGC_ERR_INVALID,
                     "%s: '%s' has shape %s, the network needs %s (does the "
                     "checkpoint fit this configuration?)",
                     source, p->name, got_s, want_s);
  }
  if (t->dtype != SEGC_F32 && t->dtype != SEGC_F16 && t->dtype != SEGC_BF16)
    return SEGC_FAIL(SEGC_ERR_UNSUPPORTED, "%s: '%s' has dtype %s", source,
                     p->name, segc_dtype_name(t->dtype));
  int64_t nans, infs;
  segc_count_non_finite(t->data, t->dtype,
                        (size_t)segc_tensor_numel(&p->value), &nans, &infs);
  if (nans || infs) return refuse_non_finite(source, "tensor", p->name, nans, infs);
  return SEGC_OK;
}

segc_status segc_segresnet_load_state_dict(segc_segresnet *net,
                                           const segc_pt_state_dict *dict,
                                           const char *source) {
  for (int i = 0; i < net->param_count; ++i) {
    const segc_param *p = &net->params[i];
    const segc_pt_tensor *t = segc_pt_find(dict, p->name);
    if (!t)
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s: missing key '%s' (does the checkpoint fit this "
                       "configuration?)",
                       source, p->name);
    SEGC_TRY(check_tensor(p, t, source));
  }
  for (int i = 0; i < dict->count; ++i)
    if (!segc_segresnet_find(net, dict->tensors[i].name))
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s: unexpected key '%s' (not a parameter of this "
                       "SegResNet)",
                       source, dict->tensors[i].name);
  float *host = segc_segresnet_host_buffer(net);
  for (int i = 0; i < net->param_count; ++i) {
    segc_param *p = &net->params[i];
    const segc_pt_tensor *t = segc_pt_find(dict, p->name);
    segc_convert(t->data, t->dtype, segc_segresnet_param_in(net, host, p),
                 SEGC_F32, (size_t)segc_tensor_numel(&p->value));
  }
  return segc_segresnet_weights_from_host(net);
}

segc_status segc_segresnet_load_checkpoint(segc_segresnet *net,
                                           const char *path) {
  segc_pt_state_dict dict;
  SEGC_TRY(segc_pt_read(path, &dict));
  segc_status status = segc_segresnet_load_state_dict(net, &dict, path);
  segc_pt_free(&dict);
  return status;
}

segc_status segc_segresnet_state_dict(const segc_segresnet *net,
                                      segc_pt_state_dict *out) {
  out->count = 0;
  out->tensors = calloc((size_t)net->param_count, sizeof(segc_pt_tensor));
  if (!out->tensors)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "state dict: out of memory");
  // The tensors point into the weights as host memory (a fresh copy on a
  // GPU).
  float *host;
  segc_status status = segc_segresnet_weights_to_host(net, &host);
  if (status != SEGC_OK) {
    free(out->tensors);
    out->tensors = NULL;
    return status;
  }
  for (int i = 0; i < net->param_count; ++i) {
    const segc_param *p = &net->params[i];
    segc_pt_tensor *t = &out->tensors[i];
    t->name = (char *)p->name;
    t->dtype = SEGC_F32;
    t->ndim = torch_shape(p, t->shape);
    t->data = segc_segresnet_param_in(net, host, p);
  }
  out->count = net->param_count;
  return SEGC_OK;
}

void segc_segresnet_state_dict_free(segc_pt_state_dict *dict) {
  free(dict->tensors);  // names and data belong to the network
  dict->tensors = NULL;
  dict->count = 0;
}

segc_status segc_segresnet_save_checkpoint(const segc_segresnet *net,
                                           const char *path) {
  segc_pt_state_dict dict;
  SEGC_TRY(segc_segresnet_state_dict(net, &dict));
  segc_status status = segc_pt_write(path, &dict);
  segc_segresnet_state_dict_free(&dict);
  return status;
}

static const segc_pt_tensor *find_shaped(const segc_pt_state_dict *dict,
                                         const char *name, int ndim) {
  const segc_pt_tensor *t = segc_pt_find(dict, name);
  return t && t->ndim == ndim ? t : NULL;
}

segc_status segc_segresnet_config_from_state_dict(
    const segc_pt_state_dict *dict, segc_segresnet_config *config) {
  const segc_pt_tensor *init = find_shaped(dict, "convInit.conv.weight", 5);
  const segc_pt_tensor *final = find_shaped(dict, "conv_final.2.conv.weight", 5);
  if (!init || !final)
    return SEGC_FAIL(SEGC_ERR_FORMAT,
                     "not a SegResNet state dict (no convInit.conv.weight or "
                     "conv_final.2.conv.weight)");
  config->init_filters = init->shape[0];
  config->in_channels = init->shape[1];
  config->out_channels = final->shape[0];
  char name[96];
  int levels = 0;
  for (; levels < SEGC_SEGRESNET_MAX_LEVELS; ++levels) {
    int blocks = 0;
    for (;; ++blocks) {
      snprintf(name, sizeof name, "down_layers.%d.%d.conv1.conv.weight", levels,
               blocks + 1);
      if (!segc_pt_find(dict, name)) break;
    }
    snprintf(name, sizeof name, "down_layers.%d.0.conv.weight", levels);
    if (blocks == 0 && levels > 0 && !segc_pt_find(dict, name)) break;
    config->blocks_down[levels] = blocks;
  }
  config->levels = levels;
  for (int i = 0; i + 1 < levels; ++i) {
    int blocks = 0;
    for (;; ++blocks) {
      snprintf(name, sizeof name, "up_layers.%d.%d.conv1.conv.weight", i,
               blocks);
      if (!segc_pt_find(dict, name)) break;
    }
    config->blocks_up[i] = blocks;
  }
  if (config->norm_groups <= 0) config->norm_groups = 8;
  return segc_segresnet_config_check(config);
}
