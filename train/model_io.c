#include "train/model_io.h"

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
  for (int i = 0; i < net->param_count; ++i) {
    segc_param *p = &net->params[i];
    const segc_pt_tensor *t = segc_pt_find(dict, p->name);
    segc_convert(t->data, t->dtype, p->value.data, SEGC_F32,
                 (size_t)segc_tensor_numel(&p->value));
  }
  segc_segresnet_weights_changed(net);
  return SEGC_OK;
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
  for (int i = 0; i < net->param_count; ++i) {
    const segc_param *p = &net->params[i];
    segc_pt_tensor *t = &out->tensors[i];
    t->name = (char *)p->name;
    t->dtype = SEGC_F32;
    t->ndim = torch_shape(p, t->shape);
    t->data = p->value.data;
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
