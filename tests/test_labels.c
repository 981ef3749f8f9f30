// The built-in bundle class table against configs/labels_104.json (and the
// shared label104_names.txt when present), and the JSON reader's errors.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/labels.h"
#include "util/test_util.h"

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static int test_bundle_matches_config(void) {
  segc_label_table builtin, config;
  CHECK_OK(segc_labels_bundle(&builtin));
  const char *source = getenv("SEGC_SOURCE_DIR");
  char config_path[4096];
  snprintf(config_path, sizeof config_path, "%s/configs/labels_104.json",
           source && *source ? source : ".");
  CHECK_OK(segc_labels_load(config_path, &config));
  CHECK(builtin.count == 105 && config.count == 105, "counts %d %d",
        builtin.count, config.count);
  for (int c = 0; c < builtin.count && c < config.count; ++c) {
    CHECK(strcmp(builtin.names[c], config.names[c]) == 0, "class %d: %s vs %s",
          c, builtin.names[c], config.names[c]);
    CHECK(segc_labels_bundle_find(config.names[c]) == c, "find %s",
          config.names[c]);
  }
  CHECK(segc_labels_find(&builtin, "kidney_left") == 3, "kidney_left is 3");
  CHECK(segc_labels_find(&builtin, "no_such_organ") == -1, "unknown name");
  int index;
  CHECK_FAILS(segc_labels_require(&builtin, "no_such_organ", &index),
              SEGC_ERR_INVALID, "no_such_organ");

  // The shared names file: "index name" per line, written independently.
  const char *shared = getenv("SEGC_SHARED_DIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/data/label104_names.txt",
           shared && *shared ? shared : "../shared");
  FILE *f = fopen(path, "r");
  if (f) {
    int index_read, lines = 0;
    char name[256];
    while (fscanf(f, "%d %255s", &index_read, name) == 2) {
      CHECK(index_read == lines, "line %d has index %d", lines, index_read);
      CHECK(index_read >= 0 && index_read < builtin.count &&
                strcmp(builtin.names[index_read], name) == 0,
            "shared name %d %s", index_read, name);
      ++lines;
    }
    fclose(f);
    CHECK(lines == 105, "%d lines in %s", lines, path);
  } else {
    printf("labels: %s not found, shared names not compared\n", path);
  }
  segc_labels_free(&builtin);
  segc_labels_free(&config);
  return 0;
}

static int test_errors(void) {
  const char *dir = test_temp_dir("labels");
  segc_label_table t;
  const char *bad = test_path(dir, "bad.json");
  write_text(bad, "{\n  \"labels\": [\"background\",\n  \"spleen\"\n");
  CHECK_FAILS(segc_labels_load(bad, &t), SEGC_ERR_FORMAT, "line");
  CHECK_FAILS(segc_labels_load(bad, &t), SEGC_ERR_FORMAT, "bad.json");
  const char *dup = test_path(dir, "dup.json");
  write_text(dup, "{\"labels\": [\"background\", \"liver\", \"liver\"]}");
  CHECK_FAILS(segc_labels_load(dup, &t), SEGC_ERR_FORMAT, "twice");
  const char *nokey = test_path(dir, "nokey.json");
  write_text(nokey, "{\"names\": [\"background\", \"liver\"]}");
  CHECK_FAILS(segc_labels_load(nokey, &t), SEGC_ERR_FORMAT, "\"labels\"");
  const char *number = test_path(dir, "number.json");
  write_text(number, "{\"labels\": [\"background\", 7]}");
  CHECK_FAILS(segc_labels_load(number, &t), SEGC_ERR_FORMAT, "[1]");
  CHECK_FAILS(segc_labels_load(test_path(dir, "missing.json"), &t),
              SEGC_ERR_IO, "missing.json");
  const char *good = test_path(dir, "good.json");
  write_text(good, "{\"labels\": [\"background\", \"a\", \"b\"], \"x\": 1}");
  CHECK_OK(segc_labels_load(good, &t));
  CHECK(t.count == 3 && strcmp(t.names[2], "b") == 0, "small table");
  segc_labels_free(&t);
  return 0;
}

int main(void) {
  // A CHECK_OK failure returns 1 from its function without counting it.
  int stopped = 0;
  stopped |= test_bundle_matches_config();
  stopped |= test_errors();
  return test_finish("labels") | stopped;
}
