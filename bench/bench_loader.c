// segbench loader: the training loader's throughput on a phantom dataset at
// the bundle's crop size: cached (crops only) and uncached (the full
// deterministic transforms on every draw), per worker count.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/parallel.h"
#include "data/datalist.h"
#include "data/loader.h"
#include "data/training_case.h"
#include "phantom/phantom.h"

typedef struct {
  const segc_datalist *list;
  segc_training_transforms transforms;
} source;

static segc_status prepare(void *context, int index, segc_volume *image,
                           segc_volume *label) {
  const source *s = context;
  const segc_datalist_item *item = &s->list->items[SEGC_DATALIST_TRAINING][index];
  return segc_prepare_training_case(item->image, item->label, &s->transforms,
                                    image, label);
}

static int measure(const source *src, int cases, double cache_rate, int workers,
                   int batch, int steps) {
  segc_loader_config c = {0};
  c.cases = cases;
  c.prepare = prepare;
  c.prepare_context = (void *)src;
  c.cache_rate = cache_rate;
  c.batch_size = batch;
  c.roi[0] = c.roi[1] = c.roi[2] = 96;
  c.workers = workers;
  c.seed = 123;
  const double t0 = segc_now();
  segc_loader *l;
  if (segc_loader_create(&l, &c, 0) != SEGC_OK) {
    fprintf(stderr, "segbench loader: error: %s\n", segc_error_message());
    return 1;
  }
  const double t1 = segc_now();
  double wait = 0.0;
  for (int s = 0; s < steps; ++s) {
    const segc_batch *b;
    double w;
    if (segc_loader_next(l, &b, &w) != SEGC_OK) {
      fprintf(stderr, "segbench loader: error: %s\n", segc_error_message());
      segc_loader_destroy(l);
      return 1;
    }
    wait += w;
  }
  const double t2 = segc_now();
  printf("cache_rate %.1f, %d workers: cache filled in %.2f s (%.0f MB); %d "
         "batches of %d crops in %.2f s = %.1f crops/s delivered\n",
         cache_rate, workers, t1 - t0,
         (double)segc_loader_cache_bytes(l) / 1e6, steps, batch, t2 - t1,
         steps * batch / (t2 - t1));
  segc_loader_destroy(l);
  return 0;
}

int segc_bench_loader(int argc, char **argv) {
  int cases = 8, steps = 20, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--cases")) cases = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
  }
  segc_set_threads(threads);
  char dir[] = "/tmp/segbench_loader_XXXXXX";
  if (!mkdtemp(dir)) {
    perror("segbench loader: mkdtemp");
    return 1;
  }
  segc_phantom_options po;
  segc_phantom_default_options(&po);
  po.dim[0] = po.dim[1] = po.dim[2] = 128;
  po.spacing[0] = po.spacing[1] = po.spacing[2] = 2.0;
  segc_datalist list;
  if (segc_phantom_write_dataset(dir, &po, cases, 1) != SEGC_OK ||
      segc_datalist_from_dataset_dir(dir, 1, &list) != SEGC_OK) {
    fprintf(stderr, "segbench loader: error: %s\n", segc_error_message());
    return 1;
  }
  const double pixdim[3] = {1.5, 1.5, 1.5};
  const int64_t roi[3] = {96, 96, 96};
  source src = {&list, segc_training_transforms_bundle(pixdim, roi)};
  printf("segbench loader: %d phantom CTs of 128^3 at 2 mm, resampled to 1.5 mm "
         "(171^3), cropped to the foreground, random 96^3 crops, batch 4\n",
         cases - 1);
  int rc = 0;
  rc |= measure(&src, cases - 1, 1.0, 2, 4, steps);
  rc |= measure(&src, cases - 1, 0.0, 1, 4, steps / 4 + 1);
  rc |= measure(&src, cases - 1, 0.0, 2, 4, steps / 4 + 1);
  segc_datalist_free(&list);
  char command[256];
  snprintf(command, sizeof command, "rm -rf %s", dir);
  if (system(command) != 0) fprintf(stderr, "segbench loader: could not remove %s\n", dir);
  return rc;
}
