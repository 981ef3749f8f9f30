// Output: the effective configuration as segc-format JSON (for logs and
// beside checkpoints), the key list for --help-config, key-by-key equality,
// and the notes list.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config_internal.h"
#include "io/atomic_file.h"

// Adds `value` under the dotted name, creating the nested object.
static bool add_dotted(cJSON *root, const char *name, cJSON *value) {
  const char *dot = strchr(name, '.');
  if (!dot) return cJSON_AddItemToObject(root, name, value);
  char group[128];
  size_t n = (size_t)(dot - name);
  if (n >= sizeof group) return false;
  memcpy(group, name, n);
  group[n] = '\0';
  cJSON *object = cJSON_GetObjectItemCaseSensitive(root, group);
  if (!object) object = cJSON_AddObjectToObject(root, group);
  return object && cJSON_AddItemToObject(object, dot + 1, value);
}

// cJSON prints doubles with 15 digits when they compare equal within an
// epsilon, losing the last bits (2.0000000000000004 -> 2); numbers are
// therefore written as raw text with the fewest digits that read back
// exactly.
static bool exact_numbers(cJSON *node) {
  for (cJSON *c = node->child; c; c = c->next) {
    if (!cJSON_IsNumber(c)) {
      if (!exact_numbers(c)) return false;
      continue;
    }
    char text[40];
    for (int digits = 15; digits <= 17; ++digits) {
      snprintf(text, sizeof text, "%.*g", digits, c->valuedouble);
      if (strtod(text, NULL) == c->valuedouble) break;
    }
    cJSON *raw = cJSON_CreateRaw(text);
    bool replaced =
        raw && (cJSON_IsObject(node)
                    ? cJSON_ReplaceItemInObjectCaseSensitive(node, c->string,
                                                             raw)
                    : cJSON_ReplaceItemViaPointer(node, c, raw));
    if (!replaced) {
      cJSON_Delete(raw);
      return false;
    }
    c = raw;
  }
  return true;
}

segc_status segc_config_to_json(const segc_config *config, char **json) {
  *json = NULL;
  cJSON *root = cJSON_CreateObject();
  bool ok = root != NULL;
  for (int i = 0; ok && i < segc_config_key_count; ++i) {
    cJSON *value = segc_config_get_key(config, &segc_config_keys[i]);
    ok = value && add_dotted(root, segc_config_keys[i].name, value);
    if (!ok) cJSON_Delete(value);
  }
  if (ok && exact_numbers(root)) *json = cJSON_Print(root);
  cJSON_Delete(root);
  if (!*json) return SEGC_FAIL(SEGC_ERR_NOMEM, "config: out of memory");
  return SEGC_OK;
}

segc_status segc_config_write_json(const segc_config *config,
                                   const char *path) {
  char *json;
  SEGC_TRY(segc_config_to_json(config, &json));
  segc_atomic_file file;
  segc_status status = segc_atomic_file_open(&file, path);
  if (status == SEGC_OK)
    status = segc_atomic_file_write(&file, json, strlen(json));
  if (status == SEGC_OK) status = segc_atomic_file_write(&file, "\n", 1);
  if (status == SEGC_OK) status = segc_atomic_file_commit(&file);
  segc_atomic_file_abort(&file);
  cJSON_free(json);
  return status;
}

static void print_type(FILE *out, const segc_config_key *key) {
  if (key->type == SEGC_KEY_CHOICE) {
    for (int i = 0; key->choices[i]; ++i)
      fprintf(out, "%s\"%s\"", i ? " | " : "", key->choices[i]);
    return;
  }
  fputs(segc_config_type_name(key), out);
  bool numeric = key->type == SEGC_KEY_INT || key->type == SEGC_KEY_UINT64 ||
                 key->type == SEGC_KEY_FLOAT || key->type == SEGC_KEY_INT3 ||
                 key->type == SEGC_KEY_FLOAT3 ||
                 key->type == SEGC_KEY_INT_LIST;
  if (key->type == SEGC_KEY_FLOAT3)
    fprintf(out, ", each in (%.10g, %.10g]", key->min, key->max);
  else if (numeric)
    fprintf(out, ", %sin [%.10g, %.10g%c",
            key->type == SEGC_KEY_INT3 || key->type == SEGC_KEY_INT_LIST
                ? "each "
                : "",
            key->min, key->max, key->max_open ? ')' : ']');
}

void segc_config_print_help(FILE *out) {
  fprintf(out,
          "Config keys (JSON files via --config FILE, later files win key by "
          "key;\nthen --set KEY=VALUE in order; network_def.* are nested "
          "objects in files).\nMONAI bundle configs (train.json, "
          "evaluate.json, ...) are read too: what segc\nhonours is taken, "
          "the rest is listed once as ignored.\n\n");
  for (int i = 0; i < segc_config_key_count; ++i) {
    const segc_config_key *key = &segc_config_keys[i];
    fprintf(out, "  %s  (", key->name);
    print_type(out, key);
    fprintf(out, "; default %s)\n      %s\n", key->default_json, key->help);
  }
}

bool segc_config_equal(const segc_config *a, const segc_config *b) {
  for (int i = 0; i < segc_config_key_count; ++i) {
    // Wrapped in an array so a bare number is converted too.
    cJSON *va = cJSON_CreateArray(), *vb = cJSON_CreateArray();
    if (va) cJSON_AddItemToArray(va, segc_config_get_key(a, &segc_config_keys[i]));
    if (vb) cJSON_AddItemToArray(vb, segc_config_get_key(b, &segc_config_keys[i]));
    char *ta = va && va->child && exact_numbers(va) ? cJSON_PrintUnformatted(va) : NULL;
    char *tb = vb && vb->child && exact_numbers(vb) ? cJSON_PrintUnformatted(vb) : NULL;
    // Printed with round-trip precision, so equal text is equal value.
    bool same = ta && tb && strcmp(ta, tb) == 0;
    cJSON_free(ta);
    cJSON_free(tb);
    cJSON_Delete(va);
    cJSON_Delete(vb);
    if (!same) return false;
  }
  return true;
}

static segc_status push(char ***list, int *count, const char *text) {
  char **grown = realloc(*list, sizeof **list * (size_t)(*count + 1));
  if (!grown) return SEGC_FAIL(SEGC_ERR_NOMEM, "config notes: out of memory");
  *list = grown;
  grown[*count] = strdup(text);
  if (!grown[*count])
    return SEGC_FAIL(SEGC_ERR_NOMEM, "config notes: out of memory");
  ++*count;
  return SEGC_OK;
}

segc_status segc_config_notes_add_ignored(segc_config_notes *notes,
                                          const char *id) {
  if (segc_config_notes_ignored(notes, id)) return SEGC_OK;
  return push(&notes->ignored, &notes->ignored_count, id);
}

segc_status segc_config_notes_add_line(segc_config_notes *notes,
                                       const char *line) {
  return push(&notes->lines, &notes->line_count, line);
}

bool segc_config_notes_ignored(const segc_config_notes *notes,
                               const char *id) {
  for (int i = 0; i < notes->ignored_count; ++i)
    if (strcmp(notes->ignored[i], id) == 0) return true;
  return false;
}

void segc_config_notes_print(const segc_config_notes *notes, FILE *out) {
  for (int i = 0; i < notes->line_count; ++i)
    fprintf(out, "note: %s\n", notes->lines[i]);
}

void segc_config_notes_free(segc_config_notes *notes) {
  for (int i = 0; i < notes->ignored_count; ++i) free(notes->ignored[i]);
  for (int i = 0; i < notes->line_count; ++i) free(notes->lines[i]);
  free(notes->ignored);
  free(notes->lines);
  memset(notes, 0, sizeof *notes);
}

bool segc_config_answer_help(int argc, char *const *argv,
                             void (*usage)(FILE *out)) {
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return true;
    }
    if (!strcmp(argv[i], "--help-config")) {
      segc_config_print_help(stdout);
      return true;
    }
  }
  return false;
}
