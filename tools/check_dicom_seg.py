#!/usr/bin/env python3
"""Reads a DICOM SEG written by seginfer with pydicom and highdicom, rebuilds
the label volume from it and compares it voxel for voxel with seginfer's
NIfTI label of the same run.

usage: check_dicom_seg.py SEG.dcm LABEL.nii.gz SIDECAR.json SERIES_DIR

The NIfTI label lies on the series' grid as segc reads it (data/dicom.h):
voxel (i, j, k) is column i, row Rows-1-j of the k-th slice sorted along the
slice normal. Frames are matched to source slices by SOP Instance UID (the
dataset's, or the file meta's when the dataset's is empty). Prints one line
"voxels: N compared, M differ, L labelled, S segments"; exits 1 on any
difference.
"""
import gzip
import json
import os
import struct
import sys

import highdicom as hd
import numpy as np
import pydicom


def read_nifti_u8(path):
    raw = open(path, "rb").read()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    if struct.unpack("<i", raw[:4])[0] != 348:
        sys.exit(f"{path}: not a little-endian NIfTI-1 file")
    dims = struct.unpack("<8h", raw[40:56])
    datatype = struct.unpack("<h", raw[70:72])[0]
    offset = int(struct.unpack("<f", raw[108:112])[0])
    if datatype != 2:  # uint8
        sys.exit(f"{path}: datatype {datatype}, expected uint8")
    nx, ny, nz = dims[1], dims[2], dims[3]
    data = np.frombuffer(raw, np.uint8, nx * ny * nz, offset)
    return data.reshape(nz, ny, nx)  # [k, j, i]


def source_slices(folder):
    slices = []
    for name in sorted(os.listdir(folder)):
        ds = pydicom.dcmread(os.path.join(folder, name), stop_before_pixels=True)
        uid = ds.get("SOPInstanceUID") or ds.file_meta.MediaStorageSOPInstanceUID
        row = np.array(ds.ImageOrientationPatient[:3], float)
        col = np.array(ds.ImageOrientationPatient[3:], float)
        along = float(np.dot(np.cross(row, col), np.array(ds.ImagePositionPatient, float)))
        slices.append((along, str(uid)))
    slices.sort()
    return [uid for _, uid in slices]


def main():
    seg_path, label_path, sidecar_path, series = sys.argv[1:5]
    ds = pydicom.dcmread(seg_path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4", ds.SOPClassUID
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds.BitsAllocated == 1 and ds.SegmentationType == "BINARY"
    seg = hd.seg.segread(seg_path)
    assert isinstance(seg, hd.seg.Segmentation)
    seg = hd.seg.Segmentation.from_dataset(ds)
    names = json.load(open(sidecar_path))["labels"]
    index_of = {name: int(index) for index, name in names.items()}
    segment_class = {}
    for item in ds.SegmentSequence:
        segment_class[int(item.SegmentNumber)] = index_of[item.SegmentLabel]
        assert item.SegmentAlgorithmType == "AUTOMATIC"
        code = item.SegmentedPropertyTypeCodeSequence[0]
        print(f"segment {item.SegmentNumber}: {item.SegmentLabel} = "
              f"{code.CodingSchemeDesignator} {code.CodeValue} {code.CodeMeaning}")
    uids = source_slices(series)
    label = read_nifti_u8(label_path)
    if label.shape[0] != len(uids):
        sys.exit(f"{len(uids)} source slices, label has {label.shape[0]}")
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids,
        combine_segments=True,
        relabel=False,
        assert_missing_frames_are_empty=True,
    )  # [k, row, column]: segment numbers
    rebuilt = np.zeros(pixels.shape, np.uint8)
    for number, index in segment_class.items():
        rebuilt[pixels == number] = index
    rebuilt = rebuilt[:, ::-1, :]  # rows to segc's j
    differ = int(np.count_nonzero(rebuilt != label))
    labelled = int(np.count_nonzero(label))
    print(f"voxels: {label.size} compared, {differ} differ, {labelled} labelled, "
          f"{len(segment_class)} segments, {int(ds.NumberOfFrames)} frames")
    # highdicom's own volume (its axes and affine, not segc's): the same
    # voxel count per segment.
    if hasattr(seg, "get_volume"):
        volume = seg.get_volume(combine_segments=True, relabel=False).array
        counts = np.bincount(volume.ravel(), minlength=len(segment_class) + 1)
        expected = np.bincount(label.ravel(), minlength=256)
        wrong = [n for n, index in segment_class.items()
                 if counts[n] != expected[index]]
        print(f"highdicom get_volume: shape {volume.shape}, "
              f"{int(np.count_nonzero(volume))} labelled voxels, "
              f"{len(wrong)} segments with other counts")
        if wrong or int(np.count_nonzero(volume)) != labelled:
            return 1
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
