// New DICOM UIDs: "2.25." and the decimal form of 128 random bits from the
// kernel (getrandom), a UUID-derived UID as PS3.5 B.2 allows (at most 44
// characters, no leading zeros).
#ifndef SEGC_DATA_DICOM_UID_H
#define SEGC_DATA_DICOM_UID_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

// `out` holds 64 bytes at least.
segc_status segc_dicom_new_uid(char *out, size_t size);

// The decimal digits of the 128-bit number words[0] (most significant) ..
// words[3], without leading zeros ("0" for zero); `out` holds 40 bytes.
void segc_dicom_u128_decimal(const uint32_t words[4], char *out);

#endif
