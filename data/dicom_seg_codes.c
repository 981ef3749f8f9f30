#include "data/dicom_seg_codes.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  const char *name;     // the bundle's structure name
  const char *value;    // SNOMED CT concept id, or NULL: private code
  const char *meaning;  // its preferred meaning
  char side;            // 'L', 'R' or 0
} structure_row;

static const structure_row kStructures[] = {
    {"spleen", "78961009", "Spleen", 0},
    {"kidney_right", "64033007", "Kidney", 'R'},
    {"kidney_left", "64033007", "Kidney", 'L'},
    {"gallbladder", "28231008", "Gallbladder", 0},
    {"liver", "10200004", "Liver", 0},
    {"stomach", "69695003", "Stomach", 0},
    {"aorta", "15825003", "Aorta", 0},
    {"inferior_vena_cava", "64131007", "Inferior vena cava", 0},
    // No single SNOMED concept for the two veins together.
    {"portal_vein_and_splenic_vein", NULL, "portal_vein_and_splenic_vein", 0},
    {"pancreas", "15776009", "Pancreas", 0},
    {"adrenal_gland_right", "23451007", "Adrenal gland", 'R'},
    {"adrenal_gland_left", "23451007", "Adrenal gland", 'L'},
    {"lung_upper_lobe_left", "45653009", "Upper lobe of lung", 'L'},
    {"lung_lower_lobe_left", "90572001", "Lower lobe of lung", 'L'},
    {"lung_upper_lobe_right", "45653009", "Upper lobe of lung", 'R'},
    {"lung_middle_lobe_right", "72481006", "Middle lobe of right lung", 0},
    {"lung_lower_lobe_right", "90572001", "Lower lobe of lung", 'R'},
    {"vertebrae_L5", "49668003", "L5 vertebra", 0},
    {"vertebrae_L4", "11994002", "L4 vertebra", 0},
    {"vertebrae_L3", "36470004", "L3 vertebra", 0},
    {"vertebrae_L2", "14293000", "L2 vertebra", 0},
    {"vertebrae_L1", "66794005", "L1 vertebra", 0},
    {"vertebrae_T12", "23215003", "T12 vertebra", 0},
    {"vertebrae_T11", "12989004", "T11 vertebra", 0},
    {"vertebrae_T10", "7610001", "T10 vertebra", 0},
    {"vertebrae_T9", "82687006", "T9 vertebra", 0},
    {"vertebrae_T8", "11068009", "T8 vertebra", 0},
    {"vertebrae_T7", "62487009", "T7 vertebra", 0},
    {"vertebrae_T6", "45296009", "T6 vertebra", 0},
    {"vertebrae_T5", "56401006", "T5 vertebra", 0},
    {"vertebrae_T4", "73071006", "T4 vertebra", 0},
    {"vertebrae_T3", "1626008", "T3 vertebra", 0},
    {"vertebrae_T2", "53733008", "T2 vertebra", 0},
    {"vertebrae_T1", "64864005", "T1 vertebra", 0},
    {"vertebrae_C7", "87391001", "C7 vertebra", 0},
    {"vertebrae_C6", "36054005", "C6 vertebra", 0},
    {"vertebrae_C5", "36978003", "C5 vertebra", 0},
    {"vertebrae_C4", "5329002", "C4 vertebra", 0},
    {"vertebrae_C3", "113205007", "C3 vertebra", 0},
    {"vertebrae_C2", "39976000", "C2 vertebra", 0},
    {"vertebrae_C1", "14806007", "C1 vertebra", 0},
    {"esophagus", "32849002", "Esophagus", 0},
    {"trachea", "44567001", "Trachea", 0},
    {"heart_myocardium", "74281007", "Myocardium", 0},
    {"heart_atrium_left", "82471001", "Left atrium", 0},
    {"heart_ventricle_left", "87878005", "Left ventricle of heart", 0},
    {"heart_atrium_right", "73829009", "Right atrium", 0},
    {"heart_ventricle_right", "53085002", "Right ventricle of heart", 0},
    {"pulmonary_artery", "81040000", "Pulmonary artery", 0},
    {"brain", "12738006", "Brain", 0},
    {"iliac_artery_left", "73634005", "Common iliac artery", 'L'},
    {"iliac_artery_right", "73634005", "Common iliac artery", 'R'},
    {"iliac_vena_left", "46027005", "Common iliac vein", 'L'},
    {"iliac_vena_right", "46027005", "Common iliac vein", 'R'},
    {"small_bowel", "30315005", "Small intestine", 0},
    {"duodenum", "38848004", "Duodenum", 0},
    {"colon", "71854001", "Colon", 0},
    {"rib_left_1", "48535007", "First rib", 'L'},
    {"rib_left_2", "78247007", "Second rib", 'L'},
    {"rib_left_3", "25888004", "Third rib", 'L'},
    {"rib_left_4", "25523003", "Fourth rib", 'L'},
    {"rib_left_5", "15339008", "Fifth rib", 'L'},
    {"rib_left_6", "59558009", "Sixth rib", 'L'},
    {"rib_left_7", "24915002", "Seventh rib", 'L'},
    {"rib_left_8", "5953002", "Eighth rib", 'L'},
    {"rib_left_9", "22565002", "Ninth rib", 'L'},
    {"rib_left_10", "77644006", "Tenth rib", 'L'},
    {"rib_left_11", "58830002", "Eleventh rib", 'L'},
    {"rib_left_12", "43993008", "Twelfth rib", 'L'},
    {"rib_right_1", "48535007", "First rib", 'R'},
    {"rib_right_2", "78247007", "Second rib", 'R'},
    {"rib_right_3", "25888004", "Third rib", 'R'},
    {"rib_right_4", "25523003", "Fourth rib", 'R'},
    {"rib_right_5", "15339008", "Fifth rib", 'R'},
    {"rib_right_6", "59558009", "Sixth rib", 'R'},
    {"rib_right_7", "24915002", "Seventh rib", 'R'},
    {"rib_right_8", "5953002", "Eighth rib", 'R'},
    {"rib_right_9", "22565002", "Ninth rib", 'R'},
    {"rib_right_10", "77644006", "Tenth rib", 'R'},
    {"rib_right_11", "58830002", "Eleventh rib", 'R'},
    {"rib_right_12", "43993008", "Twelfth rib", 'R'},
    {"humerus_left", "85050009", "Humerus", 'L'},
    {"humerus_right", "85050009", "Humerus", 'R'},
    {"scapula_left", "79601000", "Scapula", 'L'},
    {"scapula_right", "79601000", "Scapula", 'R'},
    {"clavicula_left", "51299004", "Clavicle", 'L'},
    {"clavicula_right", "51299004", "Clavicle", 'R'},
    {"femur_left", "71341001", "Femur", 'L'},
    {"femur_right", "71341001", "Femur", 'R'},
    {"hip_left", "29836001", "Hip", 'L'},
    {"hip_right", "29836001", "Hip", 'R'},
    {"sacrum", "54735007", "Sacrum", 0},
    {"face", "89545001", "Face", 0},
    {"gluteus_maximus_left", "181674001", "Gluteus maximus muscle", 'L'},
    {"gluteus_maximus_right", "181674001", "Gluteus maximus muscle", 'R'},
    {"gluteus_medius_left", "78333006", "Gluteus medius muscle", 'L'},
    {"gluteus_medius_right", "78333006", "Gluteus medius muscle", 'R'},
    {"gluteus_minimus_left", "75297007", "Gluteus minimus muscle", 'L'},
    {"gluteus_minimus_right", "75297007", "Gluteus minimus muscle", 'R'},
    {"autochthon_left", "244849004", "Deep muscle of back", 'L'},
    {"autochthon_right", "244849004", "Deep muscle of back", 'R'},
    {"iliopsoas_left", "68455001", "Iliopsoas muscle", 'L'},
    {"iliopsoas_right", "68455001", "Iliopsoas muscle", 'R'},
    {"urinary_bladder", "89837001", "Urinary bladder", 0},
};

static const segc_dicom_code kAnatomical = {"123037004", "SCT",
                                            "Anatomical Structure"};
static const segc_dicom_code kPrivateCategory = {
    "segc-structure", SEGC_DICOM_PRIVATE_SCHEME, "Segmented structure"};
static const segc_dicom_code kLeft = {"7771000", "SCT", "Left"};
static const segc_dicom_code kRight = {"24028007", "SCT", "Right"};

void segc_dicom_structure_codes_for(const char *name, int index,
                                    segc_dicom_structure_codes *codes) {
  memset(codes, 0, sizeof *codes);
  snprintf(codes->private_value, sizeof codes->private_value, "segc-%d", index);
  const structure_row *row = NULL;
  for (size_t i = 0; i < sizeof kStructures / sizeof kStructures[0]; ++i)
    if (!strcmp(kStructures[i].name, name)) row = &kStructures[i];
  codes->category = row ? kAnatomical : kPrivateCategory;
  if (row && row->value) {
    codes->type = (segc_dicom_code){row->value, "SCT", row->meaning};
    if (row->side) codes->modifier = row->side == 'L' ? kLeft : kRight;
  } else {
    codes->type = (segc_dicom_code){codes->private_value,
                                    SEGC_DICOM_PRIVATE_SCHEME, name};
  }
}
