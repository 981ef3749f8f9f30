#!/usr/bin/python3
"""Writes the reference files for tests/test_nifti_io.c and the fuzz seeds.

Run from the repository root with Debian's Python (nibabel 5, numpy):
    /usr/bin/python3 tools/make_nifti_reference.py [/work/shared/data]

1. tests/data/nifti_shared_expected.txt: for each *.nii.gz in the shared data
   folder, what nibabel reports: shape, stored datatype, affine
   (get_best_affine), value range, weighted sums that catch a wrong axis
   order, voxels at scattered (i, j, k) and, for label maps, every class's
   voxel count.
2. tests/fuzz/corpus_nifti/seed_*: tiny valid files written by nibabel (both
   NIfTI versions, gz and plain, every datatype segc reads, big-endian, an
   extension, scaling, qform only, no xform, 4D with one volume), and
   tests/data/nifti_seed_expected.txt with what nibabel reads back from each
   (shape, affine, float64 sum and weighted sums of the scaled data).

The C tests never run Python; they read these files.
"""
import gzip
import os
import struct
import sys

import nibabel as nib
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def weighted_sums(data):
    """sum v, sum v*(i+1), sum v*(j+1), sum v*(k+1), in float64."""
    d = np.asarray(data, dtype=np.float64)
    i, j, k = np.meshgrid(*(np.arange(1, n + 1, dtype=np.float64) for n in d.shape),
                          indexing="ij")
    return [float(d.sum()), float((d * i).sum()), float((d * j).sum()),
            float((d * k).sum())]


def fmt(values):
    return " ".join(repr(float(v)) if isinstance(v, (float, np.floating)) else str(v)
                    for v in values)


def shared_reference(shared_dir, out_path):
    rng = np.random.default_rng(20240601)
    lines = ["# Written by tools/make_nifti_reference.py from nibabel %s; do not edit."
             % nib.__version__]
    for name in sorted(os.listdir(shared_dir)):
        if not name.endswith(".nii.gz"):
            continue
        img = nib.load(os.path.join(shared_dir, name))
        data = np.asanyarray(img.dataobj)  # stored values (scaling is 1/0 here)
        assert data.ndim == 3, name
        is_label = data.dtype == np.uint8
        lines.append("file " + name)
        lines.append("shape " + fmt(data.shape))
        lines.append("datatype " + str(int(img.header["datatype"])))
        lines.append("affine " + fmt(img.affine.reshape(-1).tolist()))
        lines.append("range " + fmt([int(data.min()), int(data.max())]))
        lines.append("sums " + fmt(weighted_sums(data)))
        # Corners, the centre, and scattered voxels (more of them off the
        # background in label maps, so the check is not all zeros).
        points = [(0, 0, 0), tuple(n - 1 for n in data.shape),
                  tuple(n // 2 for n in data.shape)]
        points += [tuple(int(rng.integers(0, n)) for n in data.shape) for _ in range(12)]
        nonzero = np.argwhere(data != 0)
        for row in rng.choice(len(nonzero), size=12, replace=False):
            points.append(tuple(int(x) for x in nonzero[row]))
        for p in points:
            lines.append("voxel " + fmt(list(p) + [int(data[p])]))
        if is_label:
            labels, counts = np.unique(data, return_counts=True)
            for label, count in zip(labels, counts):
                lines.append("count %d %d" % (label, count))
        lines.append("end")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


def seed_images():
    """(name, image, gzip?) for the fuzz seeds."""
    shape = (3, 4, 5)
    base = np.arange(np.prod(shape)).reshape(shape)
    las = np.array([[-1.5, 0, 0, 10.0], [0, 2.0, 0, -20.0], [0, 0, 2.5, 30.0],
                    [0, 0, 0, 1]])
    angle = 0.3
    oblique = np.array([[np.cos(angle), -np.sin(angle), 0, 1.0],
                        [np.sin(angle), np.cos(angle), 0, 2.0],
                        [0, 0, 1.25, 3.0], [0, 0, 0, 1]])
    seeds = []
    types = [("u8", np.uint8, base % 200), ("i8", np.int8, base - 30),
             ("i16", np.int16, base * 100 - 1024), ("u16", np.uint16, base * 1000),
             ("i32", np.int32, base * 70000 - 1000000),
             ("u32", np.uint32, base * 70000000),
             ("f32", np.float32, base * 0.25 - 3.0), ("f64", np.float64, base / 3.0)]
    for tag, dtype, values in types:
        img = nib.Nifti1Image(values.astype(dtype), las)
        img.header.set_data_dtype(dtype)
        seeds.append(("seed_n1_%s.nii" % tag, img, False))
    seeds.append(("seed_n1_i16_gz.nii.gz",
                  nib.Nifti1Image((base * 3 - 20).astype(np.int16), oblique), True))
    seeds.append(("seed_n2_f32.nii",
                  nib.Nifti2Image((base * 0.5).astype(np.float32), oblique), False))
    seeds.append(("seed_n2_u8_gz.nii.gz",
                  nib.Nifti2Image((base % 7).astype(np.uint8), las), True))
    big1 = nib.Nifti1Image((base - 7).astype(np.int16), las,
                           header=nib.Nifti1Header(endianness=">"))
    big1.header.set_data_dtype(np.int16)
    seeds.append(("seed_n1_i16_bigendian.nii", big1, False))
    big2 = nib.Nifti2Image((base / 7.0).astype(np.float64), las,
                           header=nib.Nifti2Header(endianness=">"))
    big2.header.set_data_dtype(np.float64)
    seeds.append(("seed_n2_f64_bigendian.nii", big2, False))
    ext = nib.Nifti1Image((base % 5).astype(np.uint8), las)
    ext.header.extensions.append(nib.nifti1.Nifti1Extension(0, b"<labels>" + b"x" * 200 + b"</labels>"))
    seeds.append(("seed_n1_u8_extension.nii.gz", ext, True))
    scaled = nib.Nifti1Image((base * 2).astype(np.int16), las)
    scaled.header.set_data_dtype(np.int16)
    seeds.append(("seed_n1_i16_scaled.nii", scaled, False))
    seeds.append(("seed_n1_i16_qform_only.nii",
                  nib.Nifti1Image((base * 2).astype(np.int16), oblique), False))
    seeds.append(("seed_n1_u8_no_xform.nii",
                  nib.Nifti1Image(base.astype(np.uint8), las), False))
    four = nib.Nifti1Image(base.astype(np.int16).reshape(shape + (1,)), las)
    seeds.append(("seed_n1_i16_4d_one_volume.nii.gz", four, True))
    return seeds


def image_bytes(img, name, use_gzip):
    raw = img.to_bytes()
    if name == "seed_n1_i16_scaled.nii":
        # nibabel chooses its own scaling when writing, so set scl_slope 2 and
        # scl_inter -1024 in the bytes (little-endian float32 at 112 and 116).
        raw = raw[:112] + struct.pack("<ff", 2.0, -1024.0) + raw[120:]
    # nibabel fills both xforms from the image affine when writing (with
    # qform_code 0, sform_code 2), so the codes (int16 at 252 and 254) are
    # set in the bytes.
    if name == "seed_n1_i16_qform_only.nii":
        raw = raw[:252] + struct.pack("<hh", 1, 0) + raw[256:]
    if name == "seed_n1_u8_no_xform.nii":
        raw = raw[:252] + struct.pack("<hh", 0, 0) + raw[256:]
    if use_gzip:
        raw = gzip.compress(raw, compresslevel=6, mtime=0)
    return raw


def seeds(corpus_dir, expected_path):
    os.makedirs(corpus_dir, exist_ok=True)
    lines = ["# Written by tools/make_nifti_reference.py from nibabel %s; do not edit."
             % nib.__version__]
    for name, img, use_gzip in seed_images():
        raw = image_bytes(img, name, use_gzip)
        path = os.path.join(corpus_dir, name)
        with open(path, "wb") as f:
            f.write(raw)
        back = nib.load(path)
        data = np.asanyarray(back.get_fdata(dtype=np.float64))
        data = data.reshape(data.shape[:3])
        slope, inter = back.dataobj.slope, back.dataobj.inter
        lines.append("file " + name)
        lines.append("shape " + fmt(data.shape))
        lines.append("datatype " + str(int(back.header["datatype"])))
        lines.append("scaling " + fmt([float(slope), float(inter)]))
        lines.append("affine " + fmt(back.affine.reshape(-1).tolist()))
        lines.append("sums " + fmt(weighted_sums(data)))
        lines.append("end")
    with open(expected_path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared", "data")
    os.makedirs(os.path.join(REPO, "tests", "data"), exist_ok=True)
    shared_reference(shared, os.path.join(REPO, "tests", "data", "nifti_shared_expected.txt"))
    seeds(os.path.join(REPO, "tests", "fuzz", "corpus_nifti"),
          os.path.join(REPO, "tests", "data", "nifti_seed_expected.txt"))


if __name__ == "__main__":
    main()
