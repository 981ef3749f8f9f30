// Taking values out of a merged MONAI bundle config: fetching with
// references followed, picking a segc key's value from its candidate ids, and
// marking ids used.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_bundle.h"

// The value at `id` after references, converted, as an owned copy (*out
// NULL when absent). A Python expression there is an error.
segc_status segc_bundle_fetch(const segc_bundle *b, const char *id,
                              segc_conversion how, cJSON **out,
                              char final_id[SEGC_BUNDLE_ID_MAX]) {
  *out = NULL;
  const cJSON *node = segc_bundle_resolve(b, id, final_id);
  if (!node) {
    if (segc_bundle_node(b, id))
      return segc_bundle_fail(b, id, "reference '%s' does not resolve",
                              segc_bundle_node(b, id)->valuestring);
    return SEGC_OK;
  }
  if (segc_bundle_is_expression(node))
    return segc_bundle_fail(
        b, id,
        "'%.80s' is a Python expression segc cannot evaluate; write the "
        "value itself",
        node->valuestring);
  if (how == SEGC_AS_SIZE3 && cJSON_IsNumber(node)) {  // MONAI: an int means n, n, n
    int n = (int)node->valuedouble;
    if (n == node->valuedouble) {
      int three[3] = {n, n, n};
      *out = cJSON_CreateIntArray(three, 3);
      return *out ? SEGC_OK : SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
    }
  }
  if (how == SEGC_AS_SCALAR && cJSON_IsArray(node) && cJSON_GetArraySize(node) > 0) {
    const cJSON *first = node->child;
    for (const cJSON *c = node->child; c; c = c->next)
      if (!cJSON_IsNumber(c) || !cJSON_IsNumber(first) ||
          c->valuedouble != first->valuedouble)
        return segc_bundle_fail(b, id,
                                "segc needs the same value on every axis");
    node = first;
  }
  if (how == SEGC_AS_ZERO_IF_NULL && cJSON_IsNull(node)) {
    *out = cJSON_CreateNumber(0.0);
  } else {
    *out = cJSON_Duplicate(node, 1);
  }
  return *out ? SEGC_OK : SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
}

static bool parent_recognised(const segc_bundle *b, const char *id) {
  char target[SEGC_BUNDLE_ID_MAX];
  const char *last = strrchr(id, '#');
  if (!last) return false;
  snprintf(target, sizeof target, "%.*s#_target_", (int)(last - id), id);
  return segc_bundle_covered(b, target);
}

// Sets segc key `name` from the last present source; marks the sources that
// agree with the result as used.
segc_status segc_bundle_pick(segc_bundle *b, const char *name,
                             const segc_bundle_source *sources, int count,
                             segc_conversion how) {
  const segc_config_key *key = segc_config_find_key(name);
  if (!key) return SEGC_FAIL(SEGC_ERR_INTERNAL, "no config key '%s'", name);
  cJSON *winner = NULL;
  const char *winner_id = NULL;
  char final_id[SEGC_BUNDLE_ID_MAX];
  for (int i = 0; i < count; ++i) {
    if (!sources[i].id[0]) continue;
    cJSON *value;
    SEGC_TRY(segc_bundle_fetch(b, sources[i].id, how, &value, final_id));
    if (!value && sources[i].default_json &&
        parent_recognised(b, sources[i].id))
      value = cJSON_Parse(sources[i].default_json);
    if (!value) continue;
    cJSON_Delete(winner);
    winner = value;
    winner_id = sources[i].id;
  }
  if (!winner) return SEGC_OK;
  char origin[SEGC_BUNDLE_ID_MAX + SEGC_CONFIG_TEXT_MAX];
  snprintf(origin, sizeof origin, "%s: %s", segc_bundle_origin(b, winner_id),
           winner_id);
  segc_status status = segc_config_set_key(b->config, key, winner, origin);
  cJSON_Delete(winner);
  SEGC_TRY(status);
  cJSON *now = segc_config_get_key(b->config, key);
  for (int i = 0; i < count && now && status == SEGC_OK; ++i) {
    if (!sources[i].id[0]) continue;
    cJSON *value;
    status = segc_bundle_fetch(b, sources[i].id, how, &value, final_id);
    if (value && cJSON_Compare(value, now, 1)) {
      status = segc_bundle_consume(b, sources[i].id);
      if (status == SEGC_OK) status = segc_bundle_consume(b, final_id);
    }
    cJSON_Delete(value);
  }
  cJSON_Delete(now);
  return status;
}

segc_status segc_bundle_set_text(segc_bundle *b, const char *name,
                                 const char *value, const char *from_id) {
  cJSON *json = cJSON_CreateString(value);
  if (!json) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  char origin[SEGC_BUNDLE_ID_MAX + SEGC_CONFIG_TEXT_MAX];
  snprintf(origin, sizeof origin, "%s: %s", segc_bundle_origin(b, from_id),
           from_id);
  segc_status status = segc_config_set_key(
      b->config, segc_config_find_key(name), json, origin);
  cJSON_Delete(json);
  if (status == SEGC_OK) status = segc_bundle_consume(b, from_id);
  return status;
}

// Marks id#_target_ used when the object's _target_ is one of `names`.
segc_status segc_bundle_recognise(segc_bundle *b, const char *id,
                                  const char *const *names, bool *yes) {
  *yes = false;
  const cJSON *node = segc_bundle_node(b, id);
  if (!cJSON_IsObject(node) || !segc_bundle_target_is(node, names))
    return SEGC_OK;
  *yes = true;
  char target[SEGC_BUNDLE_ID_MAX];
  SEGC_TRY(segc_bundle_child_id(target, id, "_target_"));
  return segc_bundle_consume(b, target);
}

// Marks `id` used when its value equals `json` (e.g. "true"); an absent
// argument counts as its default, so nothing to mark. Returns whether the
// value is acceptable (absent or equal).
segc_status segc_bundle_expect(segc_bundle *b, const char *id,
                               const char *json, bool *ok) {
  const cJSON *node = segc_bundle_node(b, id);
  *ok = true;
  if (!node) return SEGC_OK;
  cJSON *want = cJSON_Parse(json);
  if (!want) return SEGC_FAIL(SEGC_ERR_NOMEM, "out of memory");
  *ok = cJSON_Compare(node, want, 1);
  cJSON_Delete(want);
  return *ok ? segc_bundle_consume(b, id) : SEGC_OK;
}

segc_status segc_bundle_require(segc_bundle *b, const char *object_id,
                                const char *arg, const char *json,
                                const char *why) {
  char id[SEGC_BUNDLE_ID_MAX];
  SEGC_TRY(segc_bundle_child_id(id, object_id, arg));
  bool ok;
  SEGC_TRY(segc_bundle_expect(b, id, json, &ok));
  if (!ok) return segc_bundle_fail(b, id, "segc supports only %s (%s)", json,
                                   why);
  return SEGC_OK;
}

// Consumes a string node matching one of the patterns.
segc_status segc_bundle_consume_if(segc_bundle *b, const char *id,
                                   const char *const *patterns) {
  const cJSON *node = segc_bundle_node(b, id);
  for (int i = 0; node && patterns[i]; ++i)
    if (segc_bundle_expr_is(node, patterns[i]))
      return segc_bundle_consume(b, id);
  return SEGC_OK;
}

