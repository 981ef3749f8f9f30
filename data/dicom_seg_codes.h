// The codes a DICOM SEG gives each structure (SegmentedPropertyCategory/Type
// CodeSequence, PS3.3 C.8.20.2). For the bundle's structures: SNOMED CT
// ("SCT") concepts with a laterality modifier (Left 7771000, Right 24028007)
// where the structure is one of a pair, the same codes TotalSegmentator's
// public SNOMED mapping gives (wasserth/TotalSegmentator,
// totalsegmentator/resources/totalsegmentator_snomed_mapping.csv, Apache
// 2.0), category "Anatomical Structure" (SCT 123037004). A structure without
// a reliable SNOMED concept, and any name not in the table (a custom labels
// file), gets segc's private coding scheme "99SEGC" (PS3.16 8.2: designators
// starting with "99" are private): code value "segc-<class index>", code
// meaning the structure's name; a name outside the table also gets the
// private category ("99SEGC", "segc-structure", "Segmented structure").
#ifndef SEGC_DATA_DICOM_SEG_CODES_H
#define SEGC_DATA_DICOM_SEG_CODES_H

typedef struct {
  const char *value, *scheme, *meaning;
} segc_dicom_code;

typedef struct {
  segc_dicom_code category, type;
  segc_dicom_code modifier;  // laterality; value NULL when none
  char private_value[24];    // storage for a "segc-<index>" code value
} segc_dicom_structure_codes;

#define SEGC_DICOM_PRIVATE_SCHEME "99SEGC"

// The codes for class `index` named `name`. `codes` points into static
// tables and into itself (private_value): keep it while it is used.
void segc_dicom_structure_codes_for(const char *name, int index,
                                    segc_dicom_structure_codes *codes);

#endif
