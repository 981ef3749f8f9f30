// GET /info/: the app as MONAI Label describes it, with the one model
// (type segmentation, 3D) and its labels {name: number} (background left
// out, as MONAI Label's bundle apps list a segmentation model's labels).
#include <string.h>

#include "include/segc.h"
#include "server/server.h"

enum MHD_Result route_info(server_request *r) {
  server_state *s = r->server;
  cJSON *info = cJSON_CreateObject();
  cJSON *labels = cJSON_CreateArray();
  cJSON *model_labels = cJSON_CreateObject();
  cJSON *models = cJSON_CreateObject();
  cJSON *model = cJSON_CreateObject();
  if (!info || !labels || !model_labels || !models || !model) {
    cJSON_Delete(info);
    cJSON_Delete(labels);
    cJSON_Delete(model_labels);
    cJSON_Delete(models);
    cJSON_Delete(model);
    return server_reply_error(r, 500, "out of memory");
  }
  cJSON_AddStringToObject(info, "name", "segc");
  cJSON_AddStringToObject(info, "description",
                          "segc: the MONAI wholeBody_ct_segmentation bundle in C");
  cJSON_AddStringToObject(info, "version", SEGC_VERSION_STRING);
  for (int c = 1; c < s->names->count; ++c) {
    cJSON_AddItemToArray(labels, cJSON_CreateString(s->names->names[c]));
    cJSON_AddNumberToObject(model_labels, s->names->names[c], c);
  }
  cJSON_AddItemToObject(info, "labels", labels);
  cJSON_AddStringToObject(model, "type", "segmentation");
  cJSON_AddItemToObject(model, "labels", model_labels);
  cJSON_AddNumberToObject(model, "dimension", 3);
  cJSON_AddStringToObject(model, "description",
                          "SegResNet whole-body CT segmentation (105 classes, "
                          "TotalSegmentator v1 structures), run by segc");
  cJSON_AddItemToObject(model, "config", cJSON_CreateObject());
  cJSON_AddItemToObject(models, s->model_name, model);
  cJSON_AddItemToObject(info, "models", models);
  cJSON_AddItemToObject(info, "trainers", cJSON_CreateObject());
  cJSON_AddItemToObject(info, "strategies", cJSON_CreateObject());
  cJSON_AddItemToObject(info, "scoring", cJSON_CreateObject());
  cJSON_AddItemToObject(info, "train_stats", cJSON_CreateObject());
  cJSON *store = datastore_status(s);
  if (store) cJSON_AddItemToObject(info, "datastore", store);
  return server_reply_json(r, 200, info);
}
