// Private to config/config_bundle*.c: a merged MONAI bundle config and the
// bookkeeping of which of its ids segc used.
//
// Ids follow MONAI's config syntax: "train#dataloader#batch_size" ("::" is
// accepted as the separator too and normalised to '#'), list items by index
// ("train#handlers#0"); "@id" is a reference, "@#x" / "@##x" relative ones;
// "$..." is a Python expression and "%..." a macro, neither evaluated.
#ifndef SEGC_CONFIG_CONFIG_BUNDLE_H
#define SEGC_CONFIG_CONFIG_BUNDLE_H

#include "config/config_internal.h"

typedef struct {
  char **items;
  int count;
} segc_strlist;

bool segc_strlist_has(const segc_strlist *list, const char *text);
segc_status segc_strlist_add(segc_strlist *list, const char *text);
void segc_strlist_free(segc_strlist *list);

typedef struct {
  char *id;
  int file;
} segc_bundle_origin_entry;

typedef struct {
  cJSON *root;                       // the merged config
  const char *const *paths;          // the group's files, in order
  int path_count;
  segc_bundle_origin_entry *origins; // which file set each merged id
  int origin_count;
  segc_strlist consumed;             // ids segc used (with their subtrees)
  segc_config *config;
} segc_bundle;

enum { SEGC_BUNDLE_ID_MAX = 512 };

// out = parent#child (or parent#index); an error when too long.
segc_status segc_bundle_child_id(char out[SEGC_BUNDLE_ID_MAX],
                                 const char *parent, const char *child);
segc_status segc_bundle_item_id(char out[SEGC_BUNDLE_ID_MAX],
                                const char *parent, int index);
// The node at `id`, or NULL. No references are followed.
const cJSON *segc_bundle_node(const segc_bundle *b, const char *id);
// Follows "@..." references from `id` until a value; writes the final id.
// NULL when `id` (or a referenced id) is absent.
const cJSON *segc_bundle_resolve(const segc_bundle *b, const char *id,
                                 char final_id[SEGC_BUNDLE_ID_MAX]);
// The file that set `id` (the last file whose keys cover it).
const char *segc_bundle_origin(const segc_bundle *b, const char *id);
segc_status segc_bundle_fail(const segc_bundle *b, const char *id,
                             const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

segc_status segc_bundle_consume(segc_bundle *b, const char *id);
// True when `id` or one of its ancestors was consumed.
bool segc_bundle_covered(const segc_bundle *b, const char *id);

// A string value that is a Python expression or macro segc cannot evaluate.
bool segc_bundle_is_expression(const cJSON *node);
// Compares an expression with a pattern ignoring whitespace and quote style.
bool segc_bundle_expr_is(const cJSON *node, const char *pattern);
// Like segc_bundle_expr_is, but the pattern holds one "%d" (a non-negative
// integer, stored in *number; every %d must read the same number, so set
// *number = -1 first) or "%s" (a run of characters other than quotes, stored
// in text[SEGC_CONFIG_TEXT_MAX]).
bool segc_bundle_expr_match(const cJSON *node, const char *pattern,
                            long *number, char *text);
// The "_target_" of an object when it is one of `names` (NULL-terminated)
// after dropping a module path ("monai.losses.DiceCELoss" -> "DiceCELoss").
bool segc_bundle_target_is(const cJSON *object, const char *const *names);

// ---- taking values (config_bundle_values.c) ----

typedef enum {
  SEGC_AS_IS,
  SEGC_AS_SIZE3,        // MONAI's int roi_size n means [n, n, n]
  SEGC_AS_SCALAR,       // [v, v, v] -> v (an overlap per axis)
  SEGC_AS_ZERO_IF_NULL  // dropout_prob None -> 0
} segc_conversion;

typedef struct {
  const char *id;            // "" to skip
  const char *default_json;  // MONAI's default, used when the object's
                             // _target_ was recognised but the id is absent
} segc_bundle_source;

// The value at `id` after references, converted, as an owned copy (*out is
// NULL when absent). A Python expression there is an error.
segc_status segc_bundle_fetch(const segc_bundle *b, const char *id,
                              segc_conversion how, cJSON **out,
                              char final_id[SEGC_BUNDLE_ID_MAX]);
// Sets segc key `name` from the last source present (MONAI's own source goes
// last); sources holding the same value are marked used, the others are left
// for the ignored list.
segc_status segc_bundle_pick(segc_bundle *b, const char *name,
                             const segc_bundle_source *sources, int count,
                             segc_conversion how);
// Sets a string key from a value derived from `from_id`, marking it used.
segc_status segc_bundle_set_text(segc_bundle *b, const char *name,
                                 const char *value, const char *from_id);
// When the object at `id` has one of these _target_ names, marks its
// _target_ used and sets *yes.
segc_status segc_bundle_recognise(segc_bundle *b, const char *id,
                                  const char *const *names, bool *yes);
// Marks `id` used when it holds `json`; *ok is false when it holds something
// else (absent counts as ok: MONAI's default).
segc_status segc_bundle_expect(segc_bundle *b, const char *id,
                               const char *json, bool *ok);
// Like expect, but anything else is an error naming `why`.
segc_status segc_bundle_require(segc_bundle *b, const char *object_id,
                                const char *arg, const char *json,
                                const char *why);
// Marks `id` used when its string matches one of the expression patterns.
segc_status segc_bundle_consume_if(segc_bundle *b, const char *id,
                                   const char *const *patterns);

// ---- the rules ----

// The network, loss and optimizer (config_bundle_model.c); *optimizer_id
// receives the optimizer's id ("" when none).
segc_status segc_bundle_honour_model(segc_bundle *b,
                                     char optimizer_id[SEGC_BUNDLE_ID_MAX]);
// Everything (config_bundle_honour.c).
segc_status segc_bundle_honour(segc_bundle *b);
// A note line when the bundle's "cuda:0 if available, else cpu" device was
// taken as segc's "auto", which this build runs on the CPU (MONAI would use
// a GPU where there is one).
segc_status segc_bundle_device_note(const segc_bundle *b,
                                    segc_config_notes *notes);

#endif
