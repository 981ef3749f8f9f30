#include "data/dicom_uid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void segc_dicom_u128_decimal(const uint32_t words[4], char *out) {
  uint32_t n[4] = {words[0], words[1], words[2], words[3]};
  char reversed[40];
  int digits = 0;
  for (;;) {
    // n /= 10, long division over 32-bit words; the remainder is a digit.
    uint64_t remainder = 0;
    int zero = 1;
    for (int i = 0; i < 4; ++i) {
      const uint64_t part = (remainder << 32) | n[i];
      n[i] = (uint32_t)(part / 10);
      remainder = part % 10;
      if (n[i]) zero = 0;
    }
    reversed[digits++] = (char)('0' + remainder);
    if (zero) break;
  }
  for (int i = 0; i < digits; ++i) out[i] = reversed[digits - 1 - i];
  out[digits] = '\0';
}

segc_status segc_dicom_new_uid(char *out, size_t size) {
  uint32_t words[4];
  size_t got = 0;
  while (got < sizeof words) {
    const ssize_t n = getrandom((uint8_t *)words + got, sizeof words - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return SEGC_FAIL(SEGC_ERR_IO, "getrandom failed for a new DICOM UID: %s",
                       n < 0 ? strerror(errno) : "no bytes");
    got += (size_t)n;
  }
  char digits[40];
  segc_dicom_u128_decimal(words, digits);
  const int n = snprintf(out, size, "2.25.%s", digits);
  if (n < 0 || (size_t)n >= size)
    return SEGC_FAIL(SEGC_ERR_INVALID, "no room for a DICOM UID");
  return SEGC_OK;
}
