// Choosing structures by name (seginfer --roi) and naming the classes of a
// network's output.
#ifndef SEGC_INFER_STRUCTURES_H
#define SEGC_INFER_STRUCTURES_H

#include <stdbool.h>
#include <stddef.h>

#include "data/labels.h"

// The class names for a network with `classes` outputs: the JSON file at
// `labels_path` when it exists (its count must equal `classes`), else the
// bundle's built-in table when classes is 105, else "class_1", ...
// ("background" for 0).
segc_status segc_structures_table(const char *labels_path, int classes,
                                  segc_label_table *out);

// The class names for the config's `labels` setting. The schema's default
// file (`is_default`) is optional: when absent the built-in names serve, and
// a network with other than 105 outputs gets generic names. Any other path
// is the user's choice: it must be a labels file naming `classes` classes
// (a missing one is an error naming it, never a silent fallback). An empty
// setting means no file.
segc_status segc_structures_for_setting(const char *labels, bool is_default,
                                        int classes, segc_label_table *out);

// Parses a comma-separated list of names ("liver,spleen"); selected[c] is set
// for each named class (classes entries, all false on entry is not needed:
// the array is cleared first). Background cannot be chosen. An unknown name
// is an error naming it with up to five close matches (names containing it,
// then names within a small edit distance).
segc_status segc_structures_select(const segc_label_table *table,
                                   const char *list, bool *selected);

// Up to `max_matches` names close to `name`, joined with ", " into `out`
// (empty when nothing is close).
void segc_structures_suggest(const segc_label_table *table, const char *name,
                             int max_matches, char *out, size_t size);

#endif
