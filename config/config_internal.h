// Shared by config/config*.c: the schema table, the typed setter and the
// MONAI-bundle reader's entry points. Not for programs.
#ifndef SEGC_CONFIG_CONFIG_INTERNAL_H
#define SEGC_CONFIG_CONFIG_INTERNAL_H

#include <cjson/cJSON.h>

#include "config/config.h"

typedef enum {
  SEGC_KEY_BOOL,
  SEGC_KEY_INT,       // int field
  SEGC_KEY_UINT64,    // uint64_t field
  SEGC_KEY_FLOAT,     // double field
  SEGC_KEY_TEXT,      // char[SEGC_CONFIG_TEXT_MAX]
  SEGC_KEY_INT3,      // int[3]
  SEGC_KEY_FLOAT3,    // double[3]
  SEGC_KEY_INT_LIST,  // int[SEGC_SEGRESNET_MAX_LEVELS] + int count
  SEGC_KEY_CHOICE,    // an enum stored as int; JSON string from `choices`
  SEGC_KEY_AMP        // segc_amp_mode; JSON false, true, "bf16", "fp16"
} segc_key_type;

enum { SEGC_KEY_NO_FLAG = -1 };

typedef struct {
  const char *name;          // "batch_size", "network_def.init_filters"
  segc_key_type type;
  const char *default_json;  // parsed through the setter by the defaults
  const char *help;          // one line
  size_t offset;             // of the value in segc_config
  long flag_offset;          // bool "given" flag of a nullable key, or NO_FLAG
  size_t count_offset;       // INT_LIST: the int count
  double min, max;           // numeric range (each element of arrays)
  bool max_open;             // max itself is out of range
  int min_count;             // INT_LIST: fewest entries
  const char *const *choices;  // CHOICE: NULL-terminated
} segc_config_key;

extern const segc_config_key segc_config_keys[];
extern const int segc_config_key_count;

const segc_config_key *segc_config_find_key(const char *name);
// The key's type as the help shows it ("int", "[int, int, int] or null").
const char *segc_config_type_name(const segc_config_key *key);

// Checks `value` against the key's type and range and stores it. Messages
// read "<origin>: key '<name>': ...".
segc_status segc_config_set_key(segc_config *config,
                                const segc_config_key *key,
                                const cJSON *value, const char *origin);
// The key's current value as JSON (caller deletes), NULL when out of memory.
cJSON *segc_config_get_key(const segc_config *config,
                           const segc_config_key *key);
// "<origin>: unknown key '<name>'" with a "did you mean" when one is close.
segc_status segc_config_fail_unknown(const char *origin, const char *name);

// Whole-file text (malloc'd, NUL-terminated) and parsing with positions.
segc_status segc_config_read_text(const char *path, char **text);
segc_status segc_config_parse_json(const char *text, const char *origin,
                                   cJSON **root);

// Notes helpers (out of memory is reported by the caller's status).
segc_status segc_config_notes_add_ignored(segc_config_notes *notes,
                                          const char *id);
segc_status segc_config_notes_add_line(segc_config_notes *notes,
                                       const char *line);

// True when the object looks like a MONAI bundle config (or its metadata).
bool segc_bundle_is_config(const cJSON *root);
bool segc_bundle_is_metadata(const cJSON *root);

// Reads a group of bundle files (already parsed, given in order): merges them
// as MONAI's ConfigParser merges a list of files, then applies what segc
// honours and lists the rest in `notes`.
segc_status segc_bundle_apply(segc_config *config, cJSON *const *roots,
                              const char *const *paths, int count,
                              segc_config_notes *notes);

#endif
