// MONAI bundle configs: detection, merging a list of files as MONAI's
// ConfigParser.load_config_files does (later files override, "a#b" keys set
// nested entries, "+a" keys merge dicts and extend lists), id lookup with
// references, and the report of ids segc did not use.
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_bundle.h"

bool segc_strlist_has(const segc_strlist *list, const char *text) {
  for (int i = 0; i < list->count; ++i)
    if (strcmp(list->items[i], text) == 0) return true;
  return false;
}

segc_status segc_strlist_add(segc_strlist *list, const char *text) {
  if (segc_strlist_has(list, text)) return SEGC_OK;
  char **grown = realloc(list->items, sizeof *grown * (size_t)(list->count + 1));
  if (!grown) return SEGC_FAIL(SEGC_ERR_NOMEM, "bundle config: out of memory");
  list->items = grown;
  grown[list->count] = strdup(text);
  if (!grown[list->count])
    return SEGC_FAIL(SEGC_ERR_NOMEM, "bundle config: out of memory");
  list->count++;
  return SEGC_OK;
}

void segc_strlist_free(segc_strlist *list) {
  for (int i = 0; i < list->count; ++i) free(list->items[i]);
  free(list->items);
  list->items = NULL;
  list->count = 0;
}

// ---- detection ----------------------------------------------------------

static bool has_bundle_syntax(const cJSON *node) {
  if (cJSON_IsString(node))
    return node->valuestring[0] == '$' || node->valuestring[0] == '@';
  for (const cJSON *child = node->child; child; child = child->next) {
    if (child->string && strcmp(child->string, "_target_") == 0) return true;
    if (has_bundle_syntax(child)) return true;
  }
  return false;
}

bool segc_bundle_is_config(const cJSON *root) {
  static const char *const bundle_keys[] = {
      "displayable_configs", "imports", "bundle_root", "train", "validate",
      "initialize", "run", "finalize", NULL};
  for (const cJSON *child = root->child; child; child = child->next) {
    const char *key = child->string;
    if (strchr(key, '#') || strstr(key, "::") || key[0] == '+') return true;
    for (int i = 0; bundle_keys[i]; ++i)
      if (strcmp(key, bundle_keys[i]) == 0) return true;
  }
  return has_bundle_syntax(root);
}

bool segc_bundle_is_metadata(const cJSON *root) {
  return cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(
             root, "network_data_format")) &&
         (cJSON_GetObjectItemCaseSensitive(root, "monai_version") ||
          cJSON_GetObjectItemCaseSensitive(root, "schema"));
}

// ---- ids ----------------------------------------------------------------

// Copies `id` with "::" turned into '#'; false when too long.
static bool normalise_id(const char *id, char out[SEGC_BUNDLE_ID_MAX]) {
  size_t n = 0;
  for (const char *p = id; *p; ++p) {
    if (n + 1 >= SEGC_BUNDLE_ID_MAX) return false;
    if (p[0] == ':' && p[1] == ':') {
      out[n++] = '#';
      ++p;
    } else {
      out[n++] = *p;
    }
  }
  out[n] = '\0';
  return true;
}

// `prefix` is `id` or one of its ancestors.
static bool id_within(const char *prefix, const char *id) {
  size_t n = strlen(prefix);
  return strncmp(prefix, id, n) == 0 && (id[n] == '\0' || id[n] == '#');
}

segc_status segc_bundle_child_id(char out[SEGC_BUNDLE_ID_MAX],
                                 const char *parent, const char *child) {
  int n = snprintf(out, SEGC_BUNDLE_ID_MAX, "%s#%s", parent, child);
  if (n < 0 || n >= SEGC_BUNDLE_ID_MAX)
    return SEGC_FAIL(SEGC_ERR_INVALID, "bundle config: id too long: %.60s#%.40s",
                     parent, child);
  return SEGC_OK;
}

segc_status segc_bundle_item_id(char out[SEGC_BUNDLE_ID_MAX],
                                const char *parent, int index) {
  char number[16];
  snprintf(number, sizeof number, "%d", index);
  return segc_bundle_child_id(out, parent, number);
}

static const cJSON *child_of(const cJSON *node, const char *part) {
  if (cJSON_IsObject(node)) return cJSON_GetObjectItemCaseSensitive(node, part);
  if (!cJSON_IsArray(node) || !*part) return NULL;
  char *end;
  long index = strtol(part, &end, 10);
  if (*end || index < 0) return NULL;
  return cJSON_GetArrayItem(node, (int)index);
}

const cJSON *segc_bundle_node(const segc_bundle *b, const char *id) {
  char copy[SEGC_BUNDLE_ID_MAX];
  if (!b->root || !normalise_id(id, copy)) return NULL;
  const cJSON *node = b->root;
  char *save = NULL;
  for (char *part = strtok_r(copy, "#", &save); part && node;
       part = strtok_r(NULL, "#", &save))
    node = child_of(node, part);
  return node;
}

// Turns a reference's text (after '@') at `at_id` into an absolute id, as
// MONAI's resolve_relative_ids: "#x" is a sibling, "##x" one level up.
static bool absolute_reference(const char *at_id, const char *reference,
                               char out[SEGC_BUNDLE_ID_MAX]) {
  char ref[SEGC_BUNDLE_ID_MAX];
  if (!normalise_id(reference, ref)) return false;
  int ups = 0;
  while (ref[ups] == '#') ++ups;
  if (ups == 0) {
    memcpy(out, ref, strlen(ref) + 1);
    return true;
  }
  int parts = 1;
  for (const char *p = at_id; *p; ++p) parts += *p == '#';
  if (ups > parts) return false;
  size_t keep = 0;
  if (ups < parts) {  // the first parts - ups parts of at_id, then '#'
    int seen = 0;
    while (at_id[keep] && seen < parts - ups) seen += at_id[keep++] == '#';
    if (seen < parts - ups) keep = strlen(at_id) + 1;
  }
  int n = snprintf(out, SEGC_BUNDLE_ID_MAX, "%.*s%s%s",
                   keep ? (int)keep - 1 : 0, at_id, keep ? "#" : "",
                   ref + ups);
  return n > 0 && n < SEGC_BUNDLE_ID_MAX;
}

const cJSON *segc_bundle_resolve(const segc_bundle *b, const char *id,
                                 char final_id[SEGC_BUNDLE_ID_MAX]) {
  char current[SEGC_BUNDLE_ID_MAX];
  if (!normalise_id(id, current)) return NULL;
  for (int hop = 0; hop < 32; ++hop) {
    const cJSON *node = segc_bundle_node(b, current);
    if (!node) return NULL;
    if (!cJSON_IsString(node) || node->valuestring[0] != '@') {
      memcpy(final_id, current, strlen(current) + 1);
      return node;
    }
    char next[SEGC_BUNDLE_ID_MAX];
    if (!absolute_reference(current, node->valuestring + 1, next)) return NULL;
    memcpy(current, next, sizeof current);
  }
  return NULL;  // a reference cycle
}

const char *segc_bundle_origin(const segc_bundle *b, const char *id) {
  const char *best = b->paths[0];
  size_t best_length = 0;
  for (int i = 0; i < b->origin_count; ++i) {
    size_t n = strlen(b->origins[i].id);
    if (n >= best_length && id_within(b->origins[i].id, id)) {
      best = b->paths[b->origins[i].file];
      best_length = n;
    }
  }
  return best;
}

segc_status segc_bundle_fail(const segc_bundle *b, const char *id,
                             const char *fmt, ...) {
  char message[768];
  va_list args;
  va_start(args, fmt);
  vsnprintf(message, sizeof message, fmt, args);
  va_end(args);
  return SEGC_FAIL(SEGC_ERR_INVALID, "%s: %s: %s", segc_bundle_origin(b, id),
                   id, message);
}

segc_status segc_bundle_consume(segc_bundle *b, const char *id) {
  char copy[SEGC_BUNDLE_ID_MAX];
  if (!normalise_id(id, copy))
    return SEGC_FAIL(SEGC_ERR_INVALID, "bundle config: id too long: %.60s",
                     id);
  return segc_strlist_add(&b->consumed, copy);
}

bool segc_bundle_covered(const segc_bundle *b, const char *id) {
  for (int i = 0; i < b->consumed.count; ++i)
    if (id_within(b->consumed.items[i], id)) return true;
  return false;
}

static bool has_consumed_inside(const segc_bundle *b, const char *id) {
  for (int i = 0; i < b->consumed.count; ++i)
    if (id_within(id, b->consumed.items[i])) return true;
  return false;
}

// ---- expressions ----------------------------------------------------------

bool segc_bundle_is_expression(const cJSON *node) {
  return cJSON_IsString(node) &&
         (node->valuestring[0] == '$' || node->valuestring[0] == '%');
}

// Whitespace dropped and double quotes turned into single ones.
static void squeeze(const char *text, char *out, size_t size) {
  size_t n = 0;
  for (const char *p = text; *p && n + 1 < size; ++p) {
    if (isspace((unsigned char)*p)) continue;
    out[n++] = *p == '"' ? '\'' : *p;
  }
  out[n] = '\0';
}

bool segc_bundle_expr_match(const cJSON *node, const char *pattern,
                            long *number, char *text) {
  if (!cJSON_IsString(node)) return false;
  char value[SEGC_CONFIG_TEXT_MAX], want[SEGC_CONFIG_TEXT_MAX];
  squeeze(node->valuestring, value, sizeof value);
  squeeze(pattern, want, sizeof want);
  const char *v = value, *w = want;
  while (*w) {
    if (w[0] == '%' && (w[1] == 'd' || w[1] == 's')) {
      const char *start = v;
      if (w[1] == 'd') {
        while (isdigit((unsigned char)*v)) ++v;
        if (v == start || v - start > 9) return false;
        long got = strtol(start, NULL, 10);
        // Every %d of a pattern must read the same number (initialise -1).
        if (number && *number >= 0 && *number != got) return false;
        if (number) *number = got;
      } else {
        while (*v && *v != '\'' && *v != *(w + 2)) ++v;
        if (v == start) return false;
        if (text) snprintf(text, SEGC_CONFIG_TEXT_MAX, "%.*s",
                           (int)(v - start), start);
      }
      w += 2;
      continue;
    }
    if (*v != *w) return false;
    ++v;
    ++w;
  }
  return *v == '\0';
}

bool segc_bundle_expr_is(const cJSON *node, const char *pattern) {
  return segc_bundle_expr_match(node, pattern, NULL, NULL);
}

bool segc_bundle_target_is(const cJSON *object, const char *const *names) {
  const cJSON *target = cJSON_GetObjectItemCaseSensitive(object, "_target_");
  if (!cJSON_IsString(target)) return false;
  const char *name = strrchr(target->valuestring, '.');
  name = name ? name + 1 : target->valuestring;
  for (int i = 0; names[i]; ++i)
    if (strcmp(name, names[i]) == 0) return true;
  return false;
}

// ---- merging --------------------------------------------------------------

static segc_status record_origin(segc_bundle *b, const char *id, int file) {
  // A key set again replaces what earlier files set inside it.
  int kept = 0;
  for (int i = 0; i < b->origin_count; ++i) {
    if (id_within(id, b->origins[i].id)) {
      free(b->origins[i].id);
      continue;
    }
    b->origins[kept++] = b->origins[i];
  }
  b->origin_count = kept;
  segc_bundle_origin_entry *grown =
      realloc(b->origins, sizeof *grown * (size_t)(b->origin_count + 1));
  if (!grown) return SEGC_FAIL(SEGC_ERR_NOMEM, "bundle config: out of memory");
  b->origins = grown;
  grown[b->origin_count].id = strdup(id);
  grown[b->origin_count].file = file;
  if (!grown[b->origin_count].id)
    return SEGC_FAIL(SEGC_ERR_NOMEM, "bundle config: out of memory");
  b->origin_count++;
  return SEGC_OK;
}

// Sets `item` (owned) at `id` in the merged tree, as ConfigParser.__setitem__
// (or merge_kv for a '+' key): the parent must exist.
static segc_status merge_one(segc_bundle *b, int file, const char *key,
                             cJSON *item) {
  const char *path = b->paths[file];
  bool merge = key[0] == '+';
  char id[SEGC_BUNDLE_ID_MAX];
  if (!normalise_id(merge ? key + 1 : key, id) || !id[0]) {
    cJSON_Delete(item);
    return SEGC_FAIL(SEGC_ERR_INVALID, "%s: key '%.60s': empty or too long",
                     path, key);
  }
  char *last = strrchr(id, '#');
  cJSON *parent = b->root;
  if (last) {
    *last = '\0';
    parent = (cJSON *)segc_bundle_node(b, id);
    if (!cJSON_IsObject(parent) && !cJSON_IsArray(parent)) {
      segc_status s = SEGC_FAIL(
          SEGC_ERR_INVALID,
          "%s: key '%s': '%s' is not defined by an earlier bundle file (MONAI "
          "fails here too); give the files together, e.g. --config "
          "train.json --config %s",
          path, key, id, path);
      cJSON_Delete(item);
      return s;
    }
    *last = '#';
  }
  const char *name = last ? last + 1 : id;
  cJSON *existing = (cJSON *)child_of(parent, name);
  if (merge && existing) {  // "+key": dict update or list extend
    bool dicts = cJSON_IsObject(existing) && cJSON_IsObject(item);
    bool lists = cJSON_IsArray(existing) && cJSON_IsArray(item);
    if (!dicts && !lists) {
      cJSON_Delete(item);
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s: key '%s': '+' merges two objects or two lists",
                       path, key);
    }
    // Origins are recorded per merged entry: the rest keeps its file.
    segc_status status = SEGC_OK;
    while (item->child && status == SEGC_OK) {
      cJSON *c = cJSON_DetachItemViaPointer(item, item->child);
      char child_id[SEGC_BUNDLE_ID_MAX];
      if (dicts) {
        status = segc_bundle_child_id(child_id, id, c->string);
        cJSON_DeleteItemFromObjectCaseSensitive(existing, c->string);
        cJSON_AddItemToObject(existing, c->string, c);
      } else {
        status = segc_bundle_item_id(child_id, id,
                                     cJSON_GetArraySize(existing));
        cJSON_AddItemToArray(existing, c);
      }
      if (status == SEGC_OK) status = record_origin(b, child_id, file);
    }
    cJSON_Delete(item);
    return status;
  } else if (cJSON_IsArray(parent)) {
    if (!existing) {
      cJSON_Delete(item);
      return SEGC_FAIL(SEGC_ERR_INVALID,
                       "%s: key '%s': no list item '%s' to replace", path,
                       key, name);
    }
    cJSON_ReplaceItemViaPointer(parent, existing, item);
  } else if (existing) {  // renames the item from "a#b" to "b"
    cJSON_ReplaceItemInObjectCaseSensitive(parent, name, item);
  } else {
    cJSON_AddItemToObject(parent, name, item);
  }
  return record_origin(b, id, file);
}

// ---- the report ---------------------------------------------------------

static segc_status report_node(const segc_bundle *b, const cJSON *node,
                               const char *id, segc_strlist *ignored);

static bool wholly_ignored(const segc_bundle *b, const cJSON *node,
                           const char *id) {
  return !segc_bundle_covered(b, id) && !has_consumed_inside(b, id) &&
         !(cJSON_IsString(node) && node->valuestring[0] == '@');
}

// Lists the ids segc did not use, as high in the tree as possible; a run of
// unused list items becomes "id#first..last"; plain references are left out
// (the value they point to is listed where it lives).
static segc_status report_node(const segc_bundle *b, const cJSON *node,
                               const char *id, segc_strlist *ignored) {
  if (segc_bundle_covered(b, id)) return SEGC_OK;
  if (cJSON_IsString(node) && node->valuestring[0] == '@') return SEGC_OK;
  if (!has_consumed_inside(b, id) || !node->child)
    return segc_strlist_add(ignored, id);
  int index = 0, run_start = -1;
  char child_id[SEGC_BUNDLE_ID_MAX];
  for (const cJSON *c = node->child;; c = c->next, ++index) {
    bool array = cJSON_IsArray(node);
    if (array) snprintf(child_id, sizeof child_id, "%s#%d", id, index);
    else if (c) snprintf(child_id, sizeof child_id, "%s#%s", id, c->string);
    bool in_run = c && array && wholly_ignored(b, c, child_id);
    if (in_run) {
      if (run_start < 0) run_start = index;
      continue;
    }
    if (run_start >= 0) {  // close the run of unused list items
      char run[SEGC_BUNDLE_ID_MAX];
      if (run_start == index - 1)
        snprintf(run, sizeof run, "%s#%d", id, run_start);
      else
        snprintf(run, sizeof run, "%s#%d..%d", id, run_start, index - 1);
      SEGC_TRY(segc_strlist_add(ignored, run));
      run_start = -1;
    }
    if (!c) break;
    SEGC_TRY(report_node(b, c, child_id, ignored));
  }
  return SEGC_OK;
}

// ---- entry ------------------------------------------------------------------

static segc_status merge_files(segc_bundle *b, cJSON *const *roots,
                               const char *const *paths, int count) {
  b->root = cJSON_CreateObject();
  if (!b->root) return SEGC_FAIL(SEGC_ERR_NOMEM, "bundle config: out of memory");
  for (int f = 0; f < count; ++f) {
    cJSON *copy = cJSON_Duplicate(roots[f], 1);
    if (!copy) return SEGC_FAIL(SEGC_ERR_NOMEM, "bundle config: out of memory");
    for (const cJSON *a = copy->child; a; a = a->next)
      for (const cJSON *c = a->next; c; c = c->next)
        if (strcmp(a->string, c->string) == 0) {
          cJSON_Delete(copy);
          return SEGC_FAIL(SEGC_ERR_INVALID, "%s: duplicate key '%s'",
                           paths[f], a->string);
        }
    segc_status status = SEGC_OK;
    while (copy->child && status == SEGC_OK) {
      cJSON *item = cJSON_DetachItemViaPointer(copy, copy->child);
      char key[SEGC_BUNDLE_ID_MAX];
      snprintf(key, sizeof key, "%s", item->string);
      status = merge_one(b, f, key, item);
    }
    cJSON_Delete(copy);
    SEGC_TRY(status);
  }
  return SEGC_OK;
}

static segc_status add_notes(const segc_bundle *b, segc_config_notes *notes) {
  segc_strlist ignored = {0};
  segc_status status = SEGC_OK;
  for (const cJSON *c = b->root->child; c && status == SEGC_OK; c = c->next)
    status = report_node(b, c, c->string, &ignored);
  size_t size = 256;
  for (int i = 0; i < b->path_count; ++i) size += strlen(b->paths[i]) + 3;
  for (int i = 0; i < ignored.count; ++i) size += strlen(ignored.items[i]) + 2;
  char *line = status == SEGC_OK ? malloc(size) : NULL;
  if (status == SEGC_OK && !line)
    status = SEGC_FAIL(SEGC_ERR_NOMEM, "bundle config: out of memory");
  if (line) {
    size_t n = 0;
    for (int i = 0; i < b->path_count; ++i)
      n += (size_t)snprintf(line + n, size - n, "%s%s", i ? " + " : "",
                            b->paths[i]);
    n += (size_t)snprintf(line + n, size - n,
                          ": MONAI bundle config; segc does not read these "
                          "%d keys (its own fixed transform chains, logging "
                          "and metrics stand in for them, so edits there "
                          "have no effect):",
                          ignored.count);
    for (int i = 0; i < ignored.count; ++i)
      n += (size_t)snprintf(line + n, size - n, "%s %s", i ? "," : "",
                            ignored.items[i]);
    if (ignored.count == 0) snprintf(line + n, size - n, " (none)");
    status = segc_config_notes_add_line(notes, line);
    free(line);
  }
  for (int i = 0; i < ignored.count && status == SEGC_OK; ++i)
    status = segc_config_notes_add_ignored(notes, ignored.items[i]);
  segc_strlist_free(&ignored);
  if (status == SEGC_OK) status = segc_bundle_device_note(b, notes);
  return status;
}

segc_status segc_bundle_apply(segc_config *config, cJSON *const *roots,
                              const char *const *paths, int count,
                              segc_config_notes *notes) {
  segc_bundle b;
  memset(&b, 0, sizeof b);
  b.paths = paths;
  b.path_count = count;
  // Work on a copy so a failure leaves the caller's config unchanged.
  segc_config updated = *config;
  b.config = &updated;
  segc_status status = merge_files(&b, roots, paths, count);
  if (status == SEGC_OK) status = segc_bundle_honour(&b);
  if (status == SEGC_OK && notes) status = add_notes(&b, notes);
  if (status == SEGC_OK) *config = updated;
  cJSON_Delete(b.root);
  for (int i = 0; i < b.origin_count; ++i) free(b.origins[i].id);
  free(b.origins);
  segc_strlist_free(&b.consumed);
  return status;
}
