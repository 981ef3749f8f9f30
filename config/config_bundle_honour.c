// What segc takes from a merged MONAI bundle config (train.json,
// evaluate.json, inference.json, multi_gpu_*.json and configs like them).
// Each segc key lists the bundle ids it can come from, the one MONAI itself
// uses last. Expressions segc does by construction (the bundle's glob of
// imagesTr/labelsTr, pixdim and model name from highres, "$@network_def.to(
// @device)", ...) are recognised by pattern and marked used; everything
// left is reported by config_bundle.c.
#include <string.h>

#include "config/config_bundle.h"

static const char *const kCompose[] = {"Compose", NULL};
static const char *const kCacheDataset[] = {"CacheDataset", NULL};
static const char *const kDataset[] = {"Dataset", "CacheDataset", NULL};
static const char *const kPlainDataset[] = {"Dataset", NULL};
static const char *const kDataLoader[] = {"DataLoader", "ThreadDataLoader",
                                          NULL};
static const char *const kSimpleInferer[] = {"SimpleInferer", NULL};
static const char *const kSlidingWindow[] = {"SlidingWindowInferer", NULL};
static const char *const kTrainer[] = {"SupervisedTrainer", NULL};
static const char *const kEvaluator[] = {"SupervisedEvaluator", NULL};
static const char *const kValidationHandler[] = {"ValidationHandler", NULL};
static const char *const kRandCrop[] = {"RandSpatialCropd", NULL};
static const char *const kCenterCrop[] = {"CenterSpatialCropd", NULL};
static const char *const kCheckpointLoader[] = {"CheckpointLoader", NULL};
static const char *const kDistributed[] = {"DistributedDataParallel", NULL};

typedef struct {
  char roi[SEGC_BUNDLE_ID_MAX];           // RandSpatialCropd roi_size
  char val_roi[SEGC_BUNDLE_ID_MAX];       // CenterSpatialCropd roi_size
  bool validation_transforms_listed;
  char val_interval[SEGC_BUNDLE_ID_MAX];  // ValidationHandler interval
} found_ids;

static segc_status set_json(segc_bundle *b, const char *name, const char *json,
                            const char *from_id) {
  cJSON *value = cJSON_Parse(json);
  if (!value) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  char origin[SEGC_BUNDLE_ID_MAX + SEGC_CONFIG_TEXT_MAX];
  snprintf(origin, sizeof origin, "%s: %s", segc_bundle_origin(b, from_id),
           from_id);
  segc_status status = segc_config_set_key(
      b->config, segc_config_find_key(name), value, origin);
  cJSON_Delete(value);
  if (status == SEGC_OK) status = segc_bundle_consume(b, from_id);
  return status;
}

static segc_status honour_scripts(segc_bundle *b, const char *list_id) {
  const cJSON *list = segc_bundle_node(b, list_id);
  if (!cJSON_IsArray(list)) return SEGC_OK;
  static const char *const recognised[] = {
      "$import%s", "$from%s", "$torch.cuda.set_device(@device)",
      "$@checkpointloader(@evaluator)if@load_pretrainelseNone",
      "$@train#trainer.run()", "$@validate#evaluator.run()",
      "$@evaluator.run()", "$dist.is_initialized()anddist.destroy_process_group()",
      // Ranks above 0 quiet: what segtrain and segeval do under mpirun.
      "$@train#trainer.logger.setLevel(logging.WARNINGifdist.get_rank()>0"
      "elselogging.INFO)",
      "$@validate#evaluator.logger.setLevel(logging.WARNINGifdist.get_rank()>0"
      "elselogging.INFO)",
      NULL};
  int index = 0;
  for (const cJSON *item = list->child; item; item = item->next, ++index) {
    char id[SEGC_BUNDLE_ID_MAX], text[SEGC_CONFIG_TEXT_MAX];
    SEGC_TRY(segc_bundle_item_id(id, list_id, index));
    long seed = -1;
    if (segc_bundle_expr_match(item, "$monai.utils.set_determinism(seed=%d)",
                               &seed, NULL)) {
      char json[32];
      snprintf(json, sizeof json, "%ld", seed);
      SEGC_TRY(set_json(b, "seed", json, id));
    } else if (segc_bundle_expr_match(
                   item,
                   "$dist.is_initialized()ordist.init_process_group(backend="
                   "'%s')",
                   NULL, text)) {
      SEGC_TRY(segc_bundle_set_text(b, "backend", text, id));
      SEGC_TRY(set_json(b, "distributed", "true", id));
    } else {
      SEGC_TRY(segc_bundle_consume_if(b, id, recognised));
    }
  }
  return SEGC_OK;
}

// The multi-GPU files' samplers and per-rank handlers are what a distributed
// segc run does: training shuffled and padded (data/loader.h), validation
// in order, every case once (train/validate.h), rank 0 alone logging.
// Anything else stays listed as ignored.
static segc_status honour_samplers(segc_bundle *b) {
  bool train_ok, ok;
  SEGC_TRY(segc_bundle_expect(
      b, "train#sampler",
      "{\"_target_\": \"DistributedSampler\", \"dataset\": \"@train#dataset\","
      " \"even_divisible\": true, \"shuffle\": true}",
      &train_ok));
  if (train_ok && segc_bundle_node(b, "train#dataloader#sampler")) {
    SEGC_TRY(segc_bundle_expect(b, "train#dataloader#sampler",
                                "\"@train#sampler\"", &ok));
    // The sampler shuffles, so the loader must not.
    if (ok) SEGC_TRY(segc_bundle_expect(b, "train#dataloader#shuffle",
                                        "false", &ok));
  }
  bool validate_ok;
  SEGC_TRY(segc_bundle_expect(
      b, "validate#sampler",
      "{\"_target_\": \"DistributedSampler\", \"dataset\": "
      "\"@validate#dataset\", \"even_divisible\": false, \"shuffle\": false}",
      &validate_ok));
  if (validate_ok)
    SEGC_TRY(segc_bundle_expect(b, "validate#dataloader#sampler",
                                "\"@validate#sampler\"", &ok));
  static const char *const train_handlers[] = {
      "$@train#handlers[:-2ifdist.get_rank()>0elseNone]", NULL};
  static const char *const val_handlers[] = {
      "$Noneifdist.get_rank()>0else@validate#handlers", NULL};
  SEGC_TRY(segc_bundle_consume_if(b, "train#trainer#train_handlers",
                                  train_handlers));
  return segc_bundle_consume_if(b, "validate#evaluator#val_handlers",
                                val_handlers);
}

static segc_status honour_wiring(segc_bundle *b) {
  const cJSON *imports = segc_bundle_node(b, "imports");
  bool only_imports = cJSON_IsArray(imports);
  for (const cJSON *i = imports ? imports->child : NULL; i; i = i->next)
    only_imports &= segc_bundle_expr_is(i, "$import%s");
  if (only_imports) SEGC_TRY(segc_bundle_consume(b, "imports"));
  SEGC_TRY(honour_scripts(b, "initialize"));
  SEGC_TRY(honour_scripts(b, "run"));
  SEGC_TRY(honour_scripts(b, "finalize"));

  // The multi-GPU files' device, process group and DistributedDataParallel
  // are taken as asked (cuda, distributed): validation refuses them while
  // this build cannot honour them, rather than training on one CPU.
  const cJSON *device = segc_bundle_node(b, "device");
  if (segc_bundle_expr_is(device, "$torch.device('cuda:0' if "
                                  "torch.cuda.is_available() else 'cpu')"))
    SEGC_TRY(segc_bundle_set_text(b, "device", "auto", "device"));
  else if (segc_bundle_expr_is(
               device, "$torch.device('cuda:' + os.environ['LOCAL_RANK'])"))
    SEGC_TRY(segc_bundle_set_text(b, "device", "cuda", "device"));

  bool ddp;
  SEGC_TRY(segc_bundle_recognise(b, "network", kDistributed, &ddp));
  if (ddp) {
    SEGC_TRY(set_json(b, "distributed", "true", "network"));
  } else {
    static const char *const network[] = {"$@network_def.to(@device)", NULL};
    SEGC_TRY(segc_bundle_consume_if(b, "network", network));
  }
  // segc's dataset_dir layout is the bundle's: sorted imagesTr/ and
  // labelsTr/ for training, imagesTs/ for inference.
  static const char *const images[] = {
      "$list(sorted(glob.glob(@dataset_dir + '/imagesTr/*.nii.gz')))", NULL};
  static const char *const labels[] = {
      "$list(sorted(glob.glob(@dataset_dir + '/labelsTr/*.nii.gz')))", NULL};
  static const char *const tests[] = {
      "$list(sorted(glob.glob(@dataset_dir + '/imagesTs/*.nii.gz')))", NULL};
  static const char *const test_data[] = {"$[{'image': i} for i in @datalist]",
                                          NULL};
  SEGC_TRY(segc_bundle_consume_if(b, "images", images));
  SEGC_TRY(segc_bundle_consume_if(b, "labels", labels));
  SEGC_TRY(segc_bundle_consume_if(b, "datalist", tests));
  SEGC_TRY(segc_bundle_consume_if(b, "dataset#data", test_data));
  bool ok;
  SEGC_TRY(segc_bundle_expect(b, "load_pretrain", "true", &ok));
  return segc_bundle_expect(b, "image_key", "\"image\"", &ok);
}

segc_status segc_bundle_device_note(const segc_bundle *b,
                                    segc_config_notes *notes) {
  if (!segc_bundle_node(b, "device") || !segc_bundle_covered(b, "device") ||
      b->config->device != SEGC_RUN_ON_AUTO)
    return SEGC_OK;
  segc_device device = SEGC_DEVICE_CPU;
  if (segc_config_device(b->config, &device) != SEGC_OK) segc_clear_error();
  char line[SEGC_CONFIG_TEXT_MAX + 256];
  snprintf(line, sizeof line,
           "%s: device (cuda:0 if available, else cpu) is segc's \"auto\", "
           "which runs on the %s here",
           segc_bundle_origin(b, "device"),
           device == SEGC_DEVICE_CUDA
               ? "GPU"
               : "CPU (a GPU needs a CUDA build and a GPU present)");
  return segc_config_notes_add_line(notes, line);
}

// Finds the first item of the list at `list_id` with one of `targets`.
static int find_item(const segc_bundle *b, const char *list_id,
                     const char *const *targets) {
  const cJSON *list = segc_bundle_node(b, list_id);
  int index = 0;
  for (const cJSON *item = cJSON_IsArray(list) ? list->child : NULL; item;
       item = item->next, ++index)
    if (segc_bundle_target_is(item, targets)) return index;
  return -1;
}

// Marks a transform's selection arguments used (which keys it applies to).
static segc_status consume_transform_plumbing(segc_bundle *b, const char *id) {
  static const char *const args[] = {"_target_", "keys", "allow_missing_keys",
                                     "lazy", NULL};
  for (int i = 0; args[i]; ++i) {
    char arg_id[SEGC_BUNDLE_ID_MAX];
    SEGC_TRY(segc_bundle_child_id(arg_id, id, args[i]));
    if (segc_bundle_node(b, arg_id)) SEGC_TRY(segc_bundle_consume(b, arg_id));
  }
  return SEGC_OK;
}

static segc_status recognise_transforms(segc_bundle *b, found_ids *found) {
  bool yes;
  SEGC_TRY(segc_bundle_recognise(b, "train#preprocessing", kCompose, &yes));
  static const char *const train_compose[] = {
      "$@train#deterministic_transforms + @train#random_transforms", NULL};
  SEGC_TRY(segc_bundle_consume_if(b, "train#preprocessing#transforms",
                                  train_compose));
  static const char *const lists[] = {"train#random_transforms",
                                      "train#preprocessing#transforms", NULL};
  for (int l = 0; lists[l] && !found->roi[0]; ++l) {
    int k = find_item(b, lists[l], kRandCrop);
    if (k < 0) continue;
    char id[SEGC_BUNDLE_ID_MAX];
    SEGC_TRY(segc_bundle_item_id(id, lists[l], k));
    const char *why = "segc crops a fixed roi_size at a uniform random start";
    SEGC_TRY(segc_bundle_require(b, id, "random_size", "false", why));
    SEGC_TRY(segc_bundle_require(b, id, "random_center", "true", why));
    SEGC_TRY(segc_bundle_require(b, id, "max_roi_size", "null", why));
    SEGC_TRY(consume_transform_plumbing(b, id));
    SEGC_TRY(segc_bundle_child_id(found->roi, id, "roi_size"));
  }
  SEGC_TRY(segc_bundle_recognise(b, "validate#preprocessing", kCompose, &yes));
  const char *list = "validate#preprocessing#transforms";
  found->validation_transforms_listed =
      cJSON_IsArray(segc_bundle_node(b, list));
  int k = find_item(b, list, kCenterCrop);
  if (k >= 0) {
    char id[SEGC_BUNDLE_ID_MAX];
    SEGC_TRY(segc_bundle_item_id(id, list, k));
    SEGC_TRY(consume_transform_plumbing(b, id));
    SEGC_TRY(segc_bundle_child_id(found->val_roi, id, "roi_size"));
  }
  return SEGC_OK;
}

static segc_status recognise_parts(segc_bundle *b, found_ids *found) {
  memset(found, 0, sizeof *found);
  bool yes, ok;
  SEGC_TRY(recognise_transforms(b, found));

  SEGC_TRY(segc_bundle_recognise(b, "train#dataset", kCacheDataset, &yes));
  if (!yes) {
    SEGC_TRY(segc_bundle_recognise(b, "train#dataset", kPlainDataset, &yes));
    if (yes) SEGC_TRY(set_json(b, "cache_rate", "0", "train#dataset#_target_"));
  }
  SEGC_TRY(segc_bundle_recognise(b, "validate#dataset", kDataset, &yes));
  SEGC_TRY(segc_bundle_recognise(b, "dataset", kDataset, &yes));
  SEGC_TRY(segc_bundle_recognise(b, "train#dataloader", kDataLoader, &yes));
  if (yes) SEGC_TRY(segc_bundle_expect(b, "train#dataloader#shuffle", "true",
                                       &ok));
  static const char *const eval_loaders[] = {"validate#dataloader",
                                             "dataloader", NULL};
  for (int i = 0; eval_loaders[i]; ++i) {
    SEGC_TRY(segc_bundle_recognise(b, eval_loaders[i], kDataLoader, &yes));
    if (!yes) continue;
    char id[SEGC_BUNDLE_ID_MAX];
    SEGC_TRY(segc_bundle_child_id(id, eval_loaders[i], "shuffle"));
    SEGC_TRY(segc_bundle_expect(b, id, "false", &ok));
    SEGC_TRY(segc_bundle_child_id(id, eval_loaders[i], "batch_size"));
    SEGC_TRY(segc_bundle_expect(b, id, "1", &ok));
  }
  const cJSON *simple = segc_bundle_node(b, "train#inferer");
  if (segc_bundle_target_is(simple, kSimpleInferer) &&
      cJSON_GetArraySize(simple) == 1)
    SEGC_TRY(segc_bundle_consume(b, "train#inferer"));
  SEGC_TRY(segc_bundle_recognise(b, "train#trainer", kTrainer, &yes));
  SEGC_TRY(segc_bundle_recognise(b, "validate#evaluator", kEvaluator, &yes));
  SEGC_TRY(segc_bundle_recognise(b, "evaluator", kEvaluator, &yes));

  int k = find_item(b, "train#handlers", kValidationHandler);
  if (k >= 0) {
    char id[SEGC_BUNDLE_ID_MAX];
    SEGC_TRY(segc_bundle_item_id(id, "train#handlers", k));
    SEGC_TRY(segc_bundle_recognise(b, id, kValidationHandler, &yes));
    SEGC_TRY(segc_bundle_require(b, id, "epoch_level", "true",
                                 "segc validates every val_interval epochs"));
    char start[SEGC_BUNDLE_ID_MAX];
    SEGC_TRY(segc_bundle_child_id(start, id, "exec_at_start"));
    SEGC_TRY(segc_bundle_expect(b, start, "false", &ok));
    SEGC_TRY(segc_bundle_child_id(found->val_interval, id, "interval"));
  }
  static const char *const inferers[] = {"validate#inferer", "inferer", NULL};
  for (int i = 0; inferers[i]; ++i) {
    SEGC_TRY(segc_bundle_recognise(b, inferers[i], kSlidingWindow, &yes));
    if (!yes) continue;
    const char *why = "what segc's sliding window computes";
    SEGC_TRY(segc_bundle_require(b, inferers[i], "sigma_scale", "0.125", why));
    SEGC_TRY(segc_bundle_require(b, inferers[i], "cval", "0", why));
    SEGC_TRY(segc_bundle_require(b, inferers[i], "with_coord", "false", why));
  }
  SEGC_TRY(segc_bundle_recognise(b, "checkpointloader", kCheckpointLoader,
                                 &yes));
  if (yes)
    SEGC_TRY(segc_bundle_expect(b, "checkpointloader#load_dict",
                                "{\"model\": \"@network\"}", &ok));
  return SEGC_OK;
}

#define PICK(name, how, ...)                                               \
  do {                                                                     \
    const segc_bundle_source sources_[] = {__VA_ARGS__};                   \
    SEGC_TRY(segc_bundle_pick(b, name, sources_,                           \
                              (int)(sizeof sources_ / sizeof *sources_),   \
                              how));                                       \
  } while (0)

static segc_status honour_values(segc_bundle *b, const char *optimizer,
                                 const found_ids *found) {
  char lr[SEGC_BUNDLE_ID_MAX] = "", decay[SEGC_BUNDLE_ID_MAX] = "";
  if (optimizer[0]) {
    SEGC_TRY(segc_bundle_child_id(lr, optimizer, "lr"));
    SEGC_TRY(segc_bundle_child_id(decay, optimizer, "weight_decay"));
  }
  // torch.optim.AdamW's defaults: lr 1e-3, weight_decay 1e-2.
  PICK("init_LR", SEGC_AS_IS, {"init_LR", NULL},
       {"displayable_configs#init_LR", NULL}, {lr, "1e-3"});
  PICK("weight_decay", SEGC_AS_IS, {decay, "1e-2"});
  PICK("batch_size", SEGC_AS_IS, {"batch_size", NULL},
       {"train#dataloader#batch_size", "1"});
  PICK("val_interval", SEGC_AS_IS, {"val_interval", NULL},
       {found->val_interval, NULL});
  PICK("max_epochs", SEGC_AS_IS, {"train#trainer#max_epochs", NULL});
  PICK("cache_rate", SEGC_AS_IS, {"train#dataset#cache_rate", "1.0"});
  PICK("num_workers", SEGC_AS_IS, {"dataloader#num_workers", "0"},
       {"validate#dataloader#num_workers", "0"},
       {"train#dataset#num_workers", NULL},
       {"train#dataloader#num_workers", "0"});
  PICK("amp", SEGC_AS_IS, {"evaluator#amp", "false"},
       {"validate#evaluator#amp", "false"}, {"train#trainer#amp", "false"});
  // SlidingWindowInferer's defaults: sw_batch_size 1, overlap 0.25, mode
  // and padding_mode "constant".
  PICK("sw_batch_size", SEGC_AS_IS, {"sw_batch_size", NULL},
       {"displayable_configs#sw_batch_size", NULL},
       {"validate#inferer#sw_batch_size", "1"}, {"inferer#sw_batch_size", "1"});
  PICK("sw_overlap", SEGC_AS_SCALAR, {"sw_overlap", NULL},
       {"displayable_configs#sw_overlap", NULL},
       {"validate#inferer#overlap", "0.25"}, {"inferer#overlap", "0.25"});
  PICK("sw_mode", SEGC_AS_IS, {"validate#inferer#mode", "\"constant\""},
       {"inferer#mode", "\"constant\""});
  PICK("sw_padding_mode", SEGC_AS_IS,
       {"validate#inferer#padding_mode", "\"constant\""},
       {"inferer#padding_mode", "\"constant\""});
  PICK("sw_roi", SEGC_AS_SIZE3, {"validate#inferer#roi_size", NULL},
       {"inferer#roi_size", NULL});
  PICK("roi", SEGC_AS_SIZE3, {found->roi, NULL});
  if (found->val_roi[0])
    PICK("val_roi", SEGC_AS_SIZE3, {found->val_roi, NULL});
  else if (found->validation_transforms_listed)  // no centre crop
    SEGC_TRY(set_json(b, "val_roi", "null",
                      "validate#preprocessing#_target_"));
  PICK("dataset_dir", SEGC_AS_IS, {"dataset_dir", NULL});
  PICK("output_postfix", SEGC_AS_IS, {"output_postfix", NULL});
  PICK("output_ext", SEGC_AS_IS, {"output_ext", NULL});
  PICK("separate_folder", SEGC_AS_IS, {"separate_folder", NULL});
  return SEGC_OK;
}

// "<bundle_root>/<sub>", or "<sub>" when the root is ".".
static segc_status under_root(segc_bundle *b, const char *sub,
                              char out[SEGC_CONFIG_TEXT_MAX],
                              const char *for_id) {
  char root_id[SEGC_BUNDLE_ID_MAX];
  const cJSON *root = segc_bundle_resolve(b, "bundle_root", root_id);
  const char *text = ".";
  if (root) {
    if (!cJSON_IsString(root) || segc_bundle_is_expression(root))
      return segc_bundle_fail(b, for_id,
                              "bundle_root must be a plain path for segc");
    text = root->valuestring;
    SEGC_TRY(segc_bundle_consume(b, "bundle_root"));
    SEGC_TRY(segc_bundle_consume(b, root_id));
  }
  int n = (!strcmp(text, ".") || !text[0])
              ? snprintf(out, SEGC_CONFIG_TEXT_MAX, "%s", sub)
              : snprintf(out, SEGC_CONFIG_TEXT_MAX, "%s/%s", text, sub);
  if (n < 0 || n >= SEGC_CONFIG_TEXT_MAX)
    return segc_bundle_fail(b, for_id, "path too long");
  return SEGC_OK;
}

static segc_status honour_folder(segc_bundle *b, const char *name) {
  char id[SEGC_BUNDLE_ID_MAX], sub[SEGC_CONFIG_TEXT_MAX],
      path[SEGC_CONFIG_TEXT_MAX];
  const cJSON *node = segc_bundle_resolve(b, name, id);
  if (!node) return SEGC_OK;
  if (segc_bundle_expr_match(node, "$@bundle_root + '/%s'", NULL, sub)) {
    SEGC_TRY(under_root(b, sub, path, name));
    SEGC_TRY(segc_bundle_set_text(b, name, path, id));
    return segc_bundle_consume(b, name);
  }
  PICK(name, SEGC_AS_IS, {name, NULL});  // a plain path (or an error)
  return SEGC_OK;
}

static segc_status honour_paths(segc_bundle *b) {
  SEGC_TRY(honour_folder(b, "ckpt_dir"));
  SEGC_TRY(honour_folder(b, "output_dir"));
  // inference.json has no ckpt_dir: its loader reads bundle_root/models/.
  const cJSON *load = segc_bundle_node(b, "checkpointloader#load_path");
  if (segc_bundle_covered(b, "checkpointloader#_target_") &&
      segc_bundle_expr_is(load, "$@bundle_root + '/models/' + @modelname") &&
      !segc_bundle_node(b, "ckpt_dir")) {
    char path[SEGC_CONFIG_TEXT_MAX];
    SEGC_TRY(under_root(b, "models", path, "checkpointloader#load_path"));
    SEGC_TRY(segc_bundle_set_text(b, "ckpt_dir", path,
                                  "checkpointloader#load_path"));
  }
  return SEGC_OK;
}

static segc_status honour_val_cases(segc_bundle *b) {
  long train = -1, validate = -1;
  const char *train_id = "train#dataset#data";
  const char *validate_id = "validate#dataset#data";
  bool has_train = segc_bundle_expr_match(
      segc_bundle_node(b, train_id),
      "$[{'image': i, 'label': l} for i, l in zip(@images[:-%d], "
      "@labels[:-%d])]",
      &train, NULL);
  bool has_validate = segc_bundle_expr_match(
      segc_bundle_node(b, validate_id),
      "$[{'image': i, 'label': l} for i, l in zip(@images[-%d:], "
      "@labels[-%d:])]",
      &validate, NULL);
  if (has_train && has_validate && train != validate)
    return segc_bundle_fail(b, validate_id,
                            "trains on all but the last %ld cases but "
                            "validates on the last %ld; segc needs one "
                            "val_cases",
                            train, validate);
  char json[32];
  snprintf(json, sizeof json, "%ld", has_train ? train : validate);
  if (has_train) SEGC_TRY(set_json(b, "val_cases", json, train_id));
  if (has_validate) SEGC_TRY(set_json(b, "val_cases", json, validate_id));
  return SEGC_OK;
}

static segc_status honour_resolution(segc_bundle *b) {
  // MONAI computes pixdim and the model name from the highres their
  // expressions name (displayable_configs#highres in the bundle).
  static const char *const from_display[] = {
      "$[1.5, 1.5, 1.5] if @displayable_configs#highres else [3.0, 3.0, 3.0]",
      "$'model.pt' if @displayable_configs#highres else 'model_lowres.pt'",
      NULL};
  static const char *const from_top[] = {
      "$[1.5, 1.5, 1.5] if @highres else [3.0, 3.0, 3.0]",
      "$'model.pt' if @highres else 'model_lowres.pt'", NULL};
  const cJSON *pixdim = segc_bundle_node(b, "pixdim");
  bool top_first = segc_bundle_expr_is(pixdim, from_display[0]);
  bool derived = top_first || segc_bundle_expr_is(pixdim, from_top[0]);
  if (derived) {
    SEGC_TRY(set_json(b, "pixdim", "null", "pixdim"));
  } else if (pixdim) {
    PICK("pixdim", SEGC_AS_IS, {"pixdim", NULL});
  }
  if (top_first || !derived)
    PICK("highres", SEGC_AS_IS, {"highres", NULL},
         {"displayable_configs#highres", NULL});
  else
    PICK("highres", SEGC_AS_IS, {"displayable_configs#highres", NULL},
         {"highres", NULL});
  SEGC_TRY(segc_bundle_consume_if(b, "modelname", from_display + 1));
  SEGC_TRY(segc_bundle_consume_if(b, "modelname", from_top + 1));
  const cJSON *name = segc_bundle_node(b, "modelname");
  if (cJSON_IsString(name) &&
      !strcmp(name->valuestring, segc_config_model_name(b->config)))
    SEGC_TRY(segc_bundle_consume(b, "modelname"));
  return SEGC_OK;
}

segc_status segc_bundle_honour(segc_bundle *b) {
  char optimizer[SEGC_BUNDLE_ID_MAX];
  SEGC_TRY(segc_bundle_honour_model(b, optimizer));
  SEGC_TRY(honour_wiring(b));
  SEGC_TRY(honour_samplers(b));
  found_ids found;
  SEGC_TRY(recognise_parts(b, &found));
  SEGC_TRY(honour_values(b, optimizer, &found));
  SEGC_TRY(honour_paths(b));
  SEGC_TRY(honour_val_cases(b));
  return honour_resolution(b);
}
