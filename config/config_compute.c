// segc_config_choose_compute: the compute dtype amp (or --dtype) asks for on
// a device, with the reason programs log and seginfer reports.
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/dnnl_context.h"

static void asked_for(segc_dtype_choice *out, segc_dtype dtype,
                      const char *how) {
  out->dtype = dtype;
  snprintf(out->reason, sizeof out->reason, "%s (%s)", segc_dtype_name(dtype),
           how);
}

segc_status segc_config_choose_compute(const segc_config *config,
                                       segc_device device,
                                       segc_dtype_choice *out) {
  memset(out, 0, sizeof *out);
  switch (config->amp) {
    case SEGC_AMP_OFF:
      asked_for(out, SEGC_F32, "--dtype f32 or amp false: exact parity");
      return SEGC_OK;
    case SEGC_AMP_BF16:
      if (device == SEGC_DEVICE_CPU) SEGC_TRY(segc_dnnl_require_compute(SEGC_BF16));
      asked_for(out, SEGC_BF16, "--dtype bf16 or amp \"bf16\"");
      return SEGC_OK;
    case SEGC_AMP_FP16:
      asked_for(out, SEGC_F16, "amp \"fp16\"");
      return SEGC_OK;
    case SEGC_AMP_ON:
      if (device == SEGC_DEVICE_CPU) return segc_dtype_auto(out);
      // On GPUs amp true computes f32 as before: the probe measures oneDNN.
      out->dtype = SEGC_F32;
      snprintf(out->reason, sizeof out->reason,
               "auto: f32 (on a GPU auto is f32; --dtype bf16 asks for bf16)");
      return SEGC_OK;
  }
  return SEGC_FAIL(SEGC_ERR_INVALID, "config: amp: unknown value %d",
                   (int)config->amp);
}

segc_status segc_config_agree_compute(segc_comm *comm,
                                      segc_dtype_choice *choice) {
  int64_t bf16 = choice->dtype == SEGC_BF16;
  SEGC_TRY(segc_comm_allreduce_i64(comm, &bf16, 1, SEGC_COMM_MIN));
  if (bf16 || choice->dtype != SEGC_BF16) return SEGC_OK;
  choice->dtype = SEGC_F32;
  snprintf(choice->reason, sizeof choice->reason,
           "auto: f32 (another process of this run measured bf16 not faster)");
  return SEGC_OK;
}
