// Datalists: MONAI/Decathlon JSON (relative and absolute paths, testing
// entries, errors) and the bundle's dataset_dir convention (sorted, paired
// by name, last 10 validate).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/datalist.h"
#include "util/test_util.h"

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static void make_dir(const char *path) {
  if (mkdir(path, 0777) != 0) {
    perror(path);
    exit(1);
  }
}

static bool item_is(const segc_datalist *list, segc_datalist_split split,
                    int64_t i, const char *image, const char *label) {
  if (i >= list->count[split]) return false;
  const segc_datalist_item *item = &list->items[split][i];
  if (strcmp(item->image, image) != 0) {
    fprintf(stderr, "  image %s, expected %s\n", item->image, image);
    return false;
  }
  if (!label) return item->label == NULL;
  if (!item->label || strcmp(item->label, label) != 0) {
    fprintf(stderr, "  label %s, expected %s\n",
            item->label ? item->label : "(none)", label);
    return false;
  }
  return true;
}

static int test_json(void) {
  // dir/imagesTr/{a,b,c}.nii.gz, dir/labelsTr/{a,b}.nii.gz,
  // dir/lists/list.json, an absolute entry for c's label in dir/abs/.
  const char *dir = test_temp_dir("datalist_json");
  char path[4096], json[8192];
  const char *sub[] = {"imagesTr", "labelsTr", "lists", "abs"};
  for (int i = 0; i < 4; ++i) make_dir(test_path(dir, sub[i]));
  const char *files[] = {"imagesTr/a.nii.gz", "imagesTr/b.nii.gz",
                         "imagesTr/c.nii.gz", "labelsTr/a.nii.gz",
                         "labelsTr/b.nii.gz", "abs/c_label.nii.gz"};
  for (int i = 0; i < 6; ++i) write_text(test_path(dir, files[i]), "x");
  snprintf(json, sizeof json,
           "{\"name\": \"demo\", \"numTraining\": 2,\n"
           " \"training\": [\n"
           "  {\"image\": \"../imagesTr/a.nii.gz\", \"label\": \"../labelsTr/a.nii.gz\"},\n"
           "  {\"image\": \"./.././imagesTr//b.nii.gz\", \"label\": \"../x/../labelsTr/b.nii.gz\"}],\n"
           " \"validation\": [\n"
           "  {\"image\": \"%s/imagesTr/c.nii.gz\", \"label\": \"%s/abs/c_label.nii.gz\"}],\n"
           " \"testing\": [{\"image\": \"../imagesTr/c.nii.gz\"}]}\n",
           dir, dir);
  snprintf(path, sizeof path, "%s/lists/list.json", dir);
  write_text(path, json);
  segc_datalist list;
  CHECK_OK(segc_datalist_read_json(path, true, &list));
  char expect_image[4096], expect_label[4096];
  CHECK(list.count[SEGC_DATALIST_TRAINING] == 2 &&
            list.count[SEGC_DATALIST_VALIDATION] == 1 &&
            list.count[SEGC_DATALIST_TESTING] == 1,
        "counts %lld %lld %lld", (long long)list.count[0],
        (long long)list.count[1], (long long)list.count[2]);
  // Relative entries join the JSON's folder and normalise (as os.path.normpath).
  snprintf(expect_image, sizeof expect_image, "%s/imagesTr/a.nii.gz", dir);
  snprintf(expect_label, sizeof expect_label, "%s/labelsTr/a.nii.gz", dir);
  CHECK(item_is(&list, SEGC_DATALIST_TRAINING, 0, expect_image, expect_label),
        "training[0]");
  snprintf(expect_image, sizeof expect_image, "%s/imagesTr/b.nii.gz", dir);
  snprintf(expect_label, sizeof expect_label, "%s/labelsTr/b.nii.gz", dir);
  CHECK(item_is(&list, SEGC_DATALIST_TRAINING, 1, expect_image, expect_label),
        "training[1] with ./ and ..");
  snprintf(expect_image, sizeof expect_image, "%s/imagesTr/c.nii.gz", dir);
  snprintf(expect_label, sizeof expect_label, "%s/abs/c_label.nii.gz", dir);
  CHECK(item_is(&list, SEGC_DATALIST_VALIDATION, 0, expect_image, expect_label),
        "absolute paths stay");
  CHECK(item_is(&list, SEGC_DATALIST_TESTING, 0, expect_image, NULL),
        "testing without label");

  // Write and read back: the same entries.
  const char *copy = test_path(dir, "copy.json");
  CHECK_OK(segc_datalist_write_json(&list, copy));
  segc_datalist again;
  CHECK_OK(segc_datalist_read_json(copy, true, &again));
  for (int s = 0; s < SEGC_DATALIST_SPLITS; ++s) {
    CHECK(again.count[s] == list.count[s], "split %d count", s);
    for (int64_t i = 0; i < again.count[s] && i < list.count[s]; ++i)
      CHECK(item_is(&again, (segc_datalist_split)s, i, list.items[s][i].image,
                    list.items[s][i].label),
            "split %d item %lld", s, (long long)i);
  }
  segc_datalist_free(&again);
  segc_datalist_free(&list);

  // Decathlon's "test": a list of image paths.
  snprintf(path, sizeof path, "%s/decathlon.json", dir);
  write_text(path,
             "{\"training\": [{\"image\": \"imagesTr/a.nii.gz\", \"label\": "
             "\"labelsTr/a.nii.gz\"}], \"test\": [\"imagesTr/b.nii.gz\"]}");
  CHECK_OK(segc_datalist_read_json(path, true, &list));
  snprintf(expect_image, sizeof expect_image, "%s/imagesTr/b.nii.gz", dir);
  CHECK(item_is(&list, SEGC_DATALIST_TESTING, 0, expect_image, NULL),
        "decathlon test list");
  CHECK(list.count[SEGC_DATALIST_VALIDATION] == 0, "no validation key");
  segc_datalist_free(&list);
  return 0;
}

static int test_json_errors(void) {
  const char *dir = test_temp_dir("datalist_errors");
  char path[4096];
  segc_datalist list;
  write_text(test_path(dir, "img.nii.gz"), "x");
  struct {
    const char *name, *text;
    segc_status code;
    const char *needle;
  } cases[] = {
      {"syntax.json", "{\"training\": [\n {\"image\": \"img.nii.gz\",}\n]}",
       SEGC_ERR_FORMAT, "line 2"},
      {"notraining.json", "{\"validation\": []}", SEGC_ERR_FORMAT,
       "\"training\""},
      {"nolabel.json", "{\"training\": [{\"image\": \"img.nii.gz\"}]}",
       SEGC_ERR_FORMAT, "training[0] has no key \"label\""},
      {"missingfile.json",
       "{\"training\": [{\"image\": \"img.nii.gz\", \"label\": \"img.nii.gz\"},"
       " {\"image\": \"img.nii.gz\", \"label\": \"gone.nii.gz\"}]}",
       SEGC_ERR_IO, "training[1].label"},
      {"notlist.json", "{\"training\": {\"image\": \"img.nii.gz\"}}",
       SEGC_ERR_FORMAT, "not a list"},
      {"number.json", "{\"training\": [{\"image\": 3, \"label\": \"x\"}]}",
       SEGC_ERR_FORMAT, "training[0].image"},
      {"multichannel.json",
       "{\"training\": [{\"image\": [\"a\", \"b\"], \"label\": \"x\"}]}",
       SEGC_ERR_UNSUPPORTED, "list of paths"},
      {"both.json", "{\"training\": [], \"test\": [], \"testing\": []}",
       SEGC_ERR_FORMAT, "both"},
      {"array.json", "[1, 2]", SEGC_ERR_FORMAT, "not an object"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    snprintf(path, sizeof path, "%s/%s", dir, cases[i].name);
    write_text(path, cases[i].text);
    CHECK_FAILS(segc_datalist_read_json(path, true, &list), cases[i].code,
                cases[i].needle);
    CHECK(test_contains(segc_error_message(), cases[i].name),
          "message names the file: %s", segc_error_message());
  }
  CHECK_FAILS(segc_datalist_read_json(test_path(dir, "absent.json"), true, &list),
              SEGC_ERR_IO, "absent.json");
  // Without file checks a missing file is fine.
  snprintf(path, sizeof path, "%s/missingfile.json", dir);
  CHECK_OK(segc_datalist_read_json(path, false, &list));
  CHECK(list.count[SEGC_DATALIST_TRAINING] == 2, "unchecked read");
  segc_datalist_free(&list);
  return 0;
}

// Names in scrambled order; sorted by strcmp they are case_00..case_11.
static void make_dataset(const char *dir, int cases, bool nnunet_suffix) {
  make_dir(test_path(dir, "imagesTr"));
  make_dir(test_path(dir, "labelsTr"));
  char name[256];
  for (int k = 0; k < cases; ++k) {
    const int c = (k * 5) % cases;  // 5 is coprime to 12 and 11
    snprintf(name, sizeof name, "imagesTr/case_%02d%s.nii.gz", c,
             nnunet_suffix ? "_0000" : "");
    write_text(test_path(dir, name), "x");
    snprintf(name, sizeof name, "labelsTr/case_%02d.nii.gz", c);
    write_text(test_path(dir, name), "x");
  }
  write_text(test_path(dir, "imagesTr/notes.txt"), "ignored");
  write_text(test_path(dir, "imagesTr/.hidden.nii.gz"), "ignored as glob does");
}

static int test_dataset_dir(void) {
  const char *dir = test_temp_dir("datalist_dir");
  make_dataset(dir, 12, false);
  segc_datalist list;
  CHECK_OK(segc_datalist_from_dataset_dir(dir, SEGC_DATASET_DIR_VALIDATION,
                                          &list));
  // The bundle: images[:-10] train, images[-10:] validate.
  CHECK(list.count[SEGC_DATALIST_TRAINING] == 2 &&
            list.count[SEGC_DATALIST_VALIDATION] == 10,
        "split %lld/%lld", (long long)list.count[0], (long long)list.count[1]);
  char image[4096], label[4096];
  for (int c = 0; c < 12; ++c) {
    const segc_datalist_split split =
        c < 2 ? SEGC_DATALIST_TRAINING : SEGC_DATALIST_VALIDATION;
    snprintf(image, sizeof image, "%s/imagesTr/case_%02d.nii.gz", dir, c);
    snprintf(label, sizeof label, "%s/labelsTr/case_%02d.nii.gz", dir, c);
    CHECK(item_is(&list, split, c < 2 ? c : c - 2, image, label), "case %d", c);
  }
  segc_datalist_free(&list);
  // segc_datalist_load picks the convention from the path.
  CHECK_OK(segc_datalist_load(dir, 3, true, &list));
  CHECK(list.count[0] == 9 && list.count[1] == 3, "load a folder, 3 validate");
  segc_datalist_free(&list);

  // nnU-Net names (case_00_0000.nii.gz) pair with case_00.nii.gz.
  const char *nn = test_temp_dir("datalist_nnunet");
  make_dataset(nn, 11, true);
  CHECK_OK(segc_datalist_from_dataset_dir(nn, 10, &list));
  CHECK(list.count[0] == 1 && list.count[1] == 10, "11 cases: 1 trains");
  segc_datalist_free(&list);

  // Errors.
  CHECK_FAILS(segc_datalist_from_dataset_dir(nn, 11, &list), SEGC_ERR_INVALID,
              "none to train on");
  const char *unpaired = test_temp_dir("datalist_unpaired");
  make_dataset(unpaired, 12, false);
  remove(test_path(unpaired, "labelsTr/case_11.nii.gz"));
  CHECK_FAILS(segc_datalist_from_dataset_dir(unpaired, 10, &list),
              SEGC_ERR_FORMAT, "case_11.nii.gz has no partner");
  const char *renamed = test_temp_dir("datalist_renamed");
  make_dataset(renamed, 12, false);
  rename(test_path(renamed, "labelsTr/case_05.nii.gz"),
         test_path(renamed, "labelsTr/case_05b.nii.gz"));
  CHECK_FAILS(segc_datalist_from_dataset_dir(renamed, 10, &list),
              SEGC_ERR_FORMAT, "case_05b.nii.gz");
  CHECK_FAILS(segc_datalist_from_dataset_dir(test_path(dir, "imagesTr"), 10,
                                             &list),
              SEGC_ERR_IO, "imagesTr and labelsTr");
  return 0;
}

int main(void) {
  // A CHECK_OK failure returns 1 from its function without counting it.
  int stopped = 0;
  stopped |= test_json();
  stopped |= test_json_errors();
  stopped |= test_dataset_dir();
  return test_finish("datalist") | stopped;
}
