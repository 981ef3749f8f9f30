// Class names of a label map: index -> structure name, index 0 background.
//
// The bundle's 105 output channels are built in (the same list as
// configs/labels_104.json, which a test keeps in step), so the programs work
// without finding the configs folder; a JSON file of the same form
// ({"labels": ["background", "spleen", ...]}) can replace it.
#ifndef SEGC_DATA_LABELS_H
#define SEGC_DATA_LABELS_H

#include "core/status.h"

enum { SEGC_BUNDLE_CLASS_COUNT = 105 };

typedef struct {
  int count;     // number of classes, background included
  char **names;  // count names, each malloc'ed
} segc_label_table;

// The bundle's table (105 names, TotalSegmentator v1 order).
segc_status segc_labels_bundle(segc_label_table *out);
// Index of a bundle class name without building a table, or -1.
int segc_labels_bundle_find(const char *name);
// Reads {"labels": [names...]} from a JSON file. Names must be non-empty,
// unique strings; at most 256 classes (labels are stored as u8).
segc_status segc_labels_load(const char *path, segc_label_table *out);
void segc_labels_free(segc_label_table *table);
// Index of `name`, or -1 when the table has no such class.
int segc_labels_find(const segc_label_table *table, const char *name);
// Index of a name that must exist (a missing one is an internal error: the
// phantom and the tests use fixed names).
segc_status segc_labels_require(const segc_label_table *table,
                                const char *name, int *index);

#endif
