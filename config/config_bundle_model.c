// The bundle's network_def, loss and optimizer. segc builds MONAI's SegResNet
// and trains with DiceCELoss(to_onehot_y=True, softmax=True) and
// torch.optim.AdamW; any other component, or an argument that changes their
// arithmetic, is an error (segc cannot honour it). Absent arguments take
// MONAI's / torch's defaults, not segc's.
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "config/config_bundle.h"

static const char *const kSegResNet[] = {"SegResNet", NULL};
static const char *const kDiceCE[] = {"DiceCELoss", NULL};
static const char *const kAdamW[] = {"AdamW", NULL};

// SegResNet's own defaults (monai/networks/nets/segresnet.py), in segc's
// key names.
static const char kSegResNetDefaults[] =
    "{\"spatial_dims\": 3, \"in_channels\": 1, \"out_channels\": 2, "
    "\"init_filters\": 8, \"blocks_down\": [1, 2, 2, 4], "
    "\"blocks_up\": [1, 1, 1], \"dropout_prob\": 0, \"norm_groups\": 8}";

static segc_status take_norm(const segc_bundle *b, const char *id,
                             const cJSON *norm, int *groups) {
  // MONAI's ("GROUP", {"num_groups": n}); a bare "GROUP" fails in MONAI.
  const cJSON *name = cJSON_GetArrayItem(norm, 0);
  const cJSON *args = cJSON_GetArrayItem(norm, 1);
  if (!cJSON_IsArray(norm) || cJSON_GetArraySize(norm) != 2 ||
      !cJSON_IsString(name) || strcasecmp(name->valuestring, "group") != 0 ||
      !cJSON_IsObject(args))
    return segc_bundle_fail(b, id,
                            "segc's SegResNet uses GroupNorm: give [\"GROUP\", "
                            "{\"num_groups\": N}]");
  *groups = 0;
  for (const cJSON *a = args->child; a; a = a->next) {
    bool ok = false;
    if (!strcmp(a->string, "num_groups") && cJSON_IsNumber(a)) {
      *groups = (int)a->valuedouble;
      ok = *groups == a->valuedouble && *groups > 0;
    } else if (!strcmp(a->string, "eps")) {
      ok = cJSON_IsNumber(a) && a->valuedouble == 1e-5;
    } else if (!strcmp(a->string, "affine")) {
      ok = cJSON_IsTrue(a);
    }
    if (!ok)
      return segc_bundle_fail(b, id,
                              "GroupNorm argument '%s' is not supported (segc: "
                              "num_groups, eps 1e-5, affine true)",
                              a->string);
  }
  if (*groups == 0) return segc_bundle_fail(b, id, "num_groups is missing");
  return SEGC_OK;
}

static bool is_relu(const cJSON *act) {
  const cJSON *name = cJSON_IsArray(act) ? cJSON_GetArrayItem(act, 0) : act;
  if (cJSON_IsArray(act) &&
      (cJSON_GetArraySize(act) > 2 ||
       (cJSON_GetArraySize(act) == 2 &&
        !cJSON_IsObject(cJSON_GetArrayItem(act, 1)))))
    return false;
  return cJSON_IsString(name) && strcasecmp(name->valuestring, "relu") == 0;
}

// One SegResNet argument into `net` (segc key names); unknown ones fail.
static segc_status take_network_arg(segc_bundle *b, const char *arg_id,
                                    const char *arg, cJSON *net,
                                    int *num_groups, bool *norm_name_group) {
  static const char *const direct[] = {
      "spatial_dims", "in_channels", "out_channels", "init_filters",
      "blocks_down",  "blocks_up",   "dropout_prob", NULL};
  char final_id[SEGC_BUNDLE_ID_MAX];
  cJSON *value;
  for (int i = 0; direct[i]; ++i) {
    if (strcmp(arg, direct[i]) != 0) continue;
    SEGC_TRY(segc_bundle_fetch(
        b, arg_id,
        strcmp(arg, "dropout_prob") ? SEGC_AS_IS : SEGC_AS_ZERO_IF_NULL,
        &value, final_id));
    cJSON_ReplaceItemInObjectCaseSensitive(net, arg, value);
    return segc_bundle_consume(b, arg_id);
  }
  SEGC_TRY(segc_bundle_fetch(b, arg_id, SEGC_AS_IS, &value, final_id));
  segc_status status = SEGC_OK;
  if (!strcmp(arg, "norm")) {
    int groups = 8;
    status = take_norm(b, arg_id, value, &groups);
    if (status == SEGC_OK)
      cJSON_ReplaceItemInObjectCaseSensitive(net, "norm_groups",
                                             cJSON_CreateNumber(groups));
  } else if (!strcmp(arg, "num_groups")) {
    // MONAI reads it only with norm_name="group"; otherwise it is unused.
    if (!cJSON_IsNumber(value) || value->valuedouble < 1)
      status = segc_bundle_fail(b, arg_id, "expected a positive integer");
    else
      *num_groups = (int)value->valuedouble;
    cJSON_Delete(value);
    return status;
  } else if (!strcmp(arg, "norm_name")) {
    if (!cJSON_IsString(value) ||
        (value->valuestring[0] &&
         strcasecmp(value->valuestring, "group") != 0))
      status = segc_bundle_fail(b, arg_id,
                                "MONAI accepts only \"group\" here (deprecated "
                                "option)");
    else
      *norm_name_group = value->valuestring[0] != '\0';
  } else if (!strcmp(arg, "act")) {
    if (!is_relu(value))
      status = segc_bundle_fail(b, arg_id,
                                "segc's SegResNet uses ReLU; another "
                                "activation cannot be honoured");
  } else if (!strcmp(arg, "use_conv_final")) {
    if (!cJSON_IsTrue(value))
      status = segc_bundle_fail(b, arg_id,
                                "segc's SegResNet always has the final "
                                "convolution (use_conv_final true)");
  } else if (!strcmp(arg, "upsample_mode")) {
    if (!cJSON_IsString(value) ||
        strcmp(value->valuestring, "nontrainable") != 0)
      status = segc_bundle_fail(b, arg_id,
                                "segc upsamples with trilinear interpolation "
                                "(\"nontrainable\") only");
  } else {
    status = segc_bundle_fail(b, arg_id,
                              "SegResNet argument '%s' is not known to segc",
                              arg);
  }
  cJSON_Delete(value);
  if (status == SEGC_OK) status = segc_bundle_consume(b, arg_id);
  return status;
}

static segc_status honour_network(segc_bundle *b) {
  char id[SEGC_BUNDLE_ID_MAX];
  const cJSON *node = segc_bundle_resolve(b, "network_def", id);
  if (!node) return SEGC_OK;
  if (!cJSON_IsObject(node))
    return segc_bundle_fail(b, "network_def",
                            "expected an object with \"_target_\": "
                            "\"SegResNet\"");
  if (!segc_bundle_target_is(node, kSegResNet)) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(node, "_target_");
    return segc_bundle_fail(b, id,
                            "_target_ '%s': segc builds MONAI's SegResNet "
                            "only and cannot honour another network",
                            cJSON_IsString(t) ? t->valuestring : "?");
  }
  cJSON *net = cJSON_Parse(kSegResNetDefaults);
  if (!net) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  int num_groups = 8;
  bool norm_name_group = false;
  segc_status status = SEGC_OK;
  char arg_id[SEGC_BUNDLE_ID_MAX];
  for (const cJSON *a = node->child; a && status == SEGC_OK; a = a->next) {
    status = segc_bundle_child_id(arg_id, id, a->string);
    if (status != SEGC_OK) break;
    if (!strcmp(a->string, "_target_"))
      status = segc_bundle_consume(b, arg_id);
    else
      status = take_network_arg(b, arg_id, a->string, net, &num_groups,
                                &norm_name_group);
  }
  if (status == SEGC_OK && norm_name_group) {
    cJSON_ReplaceItemInObjectCaseSensitive(net, "norm_groups",
                                           cJSON_CreateNumber(num_groups));
    status = segc_bundle_child_id(arg_id, id, "num_groups");
    if (status == SEGC_OK) status = segc_bundle_consume(b, arg_id);
  }
  for (const cJSON *v = net->child; v && status == SEGC_OK; v = v->next) {
    char name[128], origin[SEGC_BUNDLE_ID_MAX + SEGC_CONFIG_TEXT_MAX];
    snprintf(name, sizeof name, "network_def.%s", v->string);
    snprintf(origin, sizeof origin, "%s: %s#%s", segc_bundle_origin(b, id),
             id, v->string);
    status = segc_config_set_key(b->config, segc_config_find_key(name), v,
                                 origin);
  }
  cJSON_Delete(net);
  return status;
}

// DiceCELoss arguments segc accepts only at MONAI's defaults.
static const struct {
  const char *name;
  const char *json;
} kDiceCEDefaults[] = {
    {"include_background", "true"}, {"sigmoid", "false"},
    {"other_act", "null"},          {"squared_pred", "false"},
    {"jaccard", "false"},           {"reduction", "\"mean\""},
    {"smooth_nr", "1e-5"},          {"smooth_dr", "1e-5"},
    {"batch", "false"},             {"weight", "null"},
    {"lambda_dice", "1.0"},         {"lambda_ce", "1.0"},
    {"label_smoothing", "0.0"},     {NULL, NULL}};

static segc_status check_loss(segc_bundle *b, const char *start_id) {
  char id[SEGC_BUNDLE_ID_MAX];
  const cJSON *node = segc_bundle_resolve(b, start_id, id);
  if (!node || segc_bundle_covered(b, id)) return SEGC_OK;
  if (!cJSON_IsObject(node) || !segc_bundle_target_is(node, kDiceCE))
    return segc_bundle_fail(b, id,
                            "segc trains with DiceCELoss(to_onehot_y=True, "
                            "softmax=True) only and cannot honour this loss");
  for (const cJSON *a = node->child; a; a = a->next) {
    if (!strcmp(a->string, "_target_")) continue;
    bool must_be_true =
        !strcmp(a->string, "to_onehot_y") || !strcmp(a->string, "softmax");
    bool ok = must_be_true && cJSON_IsTrue(a);
    for (int i = 0; !must_be_true && kDiceCEDefaults[i].name; ++i) {
      if (strcmp(a->string, kDiceCEDefaults[i].name) != 0) continue;
      cJSON *want = cJSON_Parse(kDiceCEDefaults[i].json);
      ok = want && cJSON_Compare(a, want, 1);
      cJSON_Delete(want);
    }
    if (!ok)
      return segc_bundle_fail(b, id,
                              "DiceCELoss argument '%s': segc implements "
                              "to_onehot_y and softmax true with every other "
                              "argument at MONAI's default",
                              a->string);
  }
  if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "to_onehot_y")) ||
      !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "softmax")))
    return segc_bundle_fail(b, id,
                            "segc needs to_onehot_y true and softmax true "
                            "(MONAI's defaults are false)");
  return segc_bundle_consume(b, id);
}

static segc_status check_optimizer(segc_bundle *b, const char *id,
                                   const cJSON *node) {
  if (!cJSON_IsObject(node) || !segc_bundle_target_is(node, kAdamW))
    return segc_bundle_fail(b, id,
                            "segc implements torch.optim.AdamW only and "
                            "cannot honour this optimizer");
  static const char *const params[] = {"$@network.parameters()", NULL};
  static const char *const details[] = {"foreach", "capturable",
                                        "differentiable", "fused", NULL};
  for (const cJSON *a = node->child; a; a = a->next) {
    char arg_id[SEGC_BUNDLE_ID_MAX];
    SEGC_TRY(segc_bundle_child_id(arg_id, id, a->string));
    const char *name = a->string;
    if (!strcmp(name, "_target_") || !strcmp(name, "lr") ||
        !strcmp(name, "weight_decay"))
      continue;  // lr and weight_decay are picked with their other sources
    if (!strcmp(name, "params")) {
      SEGC_TRY(segc_bundle_consume_if(b, arg_id, params));
      if (!segc_bundle_covered(b, arg_id))
        return segc_bundle_fail(b, arg_id,
                                "segc optimises all parameters in one group "
                                "($@network.parameters())");
      continue;
    }
    bool detail = false;
    for (int i = 0; details[i]; ++i) detail |= !strcmp(name, details[i]);
    if (detail) {  // execution strategy only; the arithmetic is the same
      SEGC_TRY(segc_bundle_consume(b, arg_id));
      continue;
    }
    const char *want = !strcmp(name, "betas")     ? "[0.9, 0.999]"
                       : !strcmp(name, "eps")     ? "1e-8"
                       : !strcmp(name, "amsgrad") ? "false"
                       : !strcmp(name, "maximize") ? "false"
                                                   : NULL;
    if (!want)
      return segc_bundle_fail(b, arg_id,
                              "AdamW argument '%s' is not known to segc",
                              name);
    SEGC_TRY(segc_bundle_require(b, id, name, want,
                                 "torch's AdamW default, which segc "
                                 "implements"));
  }
  char target[SEGC_BUNDLE_ID_MAX];
  SEGC_TRY(segc_bundle_child_id(target, id, "_target_"));
  return segc_bundle_consume(b, target);
}

segc_status segc_bundle_honour_model(segc_bundle *b,
                                     char optimizer_id[SEGC_BUNDLE_ID_MAX]) {
  optimizer_id[0] = '\0';
  SEGC_TRY(honour_network(b));
  SEGC_TRY(check_loss(b, "train#trainer#loss_function"));
  SEGC_TRY(check_loss(b, "loss"));
  const cJSON *node =
      segc_bundle_resolve(b, "train#trainer#optimizer", optimizer_id);
  if (!node) node = segc_bundle_resolve(b, "optimizer", optimizer_id);
  if (!node) {
    optimizer_id[0] = '\0';
    return SEGC_OK;
  }
  return check_optimizer(b, optimizer_id, node);
}
