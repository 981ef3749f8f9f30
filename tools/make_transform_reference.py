#!/usr/bin/python3
"""Writes tests/data/transforms_monai_ref.txt: what MONAI 1.4's preprocessing
transforms produce on the shared CTs, for tests/test_transforms_monai.c.

Run with Debian's interpreter (torch 1.13, nibabel) and MONAI 1.4.0:
    /usr/bin/python3 tools/make_transform_reference.py \
        [--shared ../shared] [--out tests/data/transforms_monai_ref.txt]

Inputs (from <shared>/data): example_ct with example_ct_label104 as given
(RAS) and re-oriented to LPS, LAS and PIR (nibabel as_reoriented, written to
a temporary folder and read back by LoadImage, so their affines went through
NIfTI's float32 srow fields); example_ct_sm; the LAS DICOM-derived label.
Pipelines, exactly as the bundle's configs build them:
  inference: LoadImaged, EnsureTyped, EnsureChannelFirstd, Orientationd RAS,
    Spacingd(pixdim, bilinear), NormalizeIntensityd(nonzero),
    ScaleIntensityd(-1, 1); then Invertd(nearest_interp=True) of a label on
    the network grid (the label through Orientationd + Spacingd(nearest)).
  training/validation (RAS only): the deterministic transforms of train.json
    and validate's CenterSpatialCropd(160).
  DICOM label: Orientationd RAS + Spacingd(nearest) and Compose.inverse.

File format, one record per volume:
  begin <name>
  dim d0 d1 d2                 (NIfTI axes i, j, k)
  affine a00 a01 ... a33       (row major, %.17g)
  stats mean std min max       (float64 over the float32 voxels)
  checksum c                   (labels: sum of value * (1 + flat_index % 65521))
  box s0 s1 s2 e0 e1 e2        (CropForeground records)
  v i j k value                (sampled voxels; indices drawn per record from
                                numpy RandomState(crc32(name)))
  end
"""
import argparse
import os
import tempfile
import zlib

import nibabel as nib
import numpy as np
import torch
from monai.transforms import (CenterSpatialCropd, Compose, CropForegroundd,
                              EnsureChannelFirstd, EnsureTyped, GaussianSmoothd,
                              Invertd, LoadImaged, NormalizeIntensityd,
                              Orientationd, ScaleIntensityd, Spacingd)

ORIENTATIONS = ("RAS", "LPS", "LAS", "PIR")
PIXDIMS = (3.0, 1.5)


class Writer:
    def __init__(self, path):
        self.f = open(path, "w")
        self.f.write("# MONAI %s reference for tests/test_transforms_monai.c; "
                     "made by tools/make_transform_reference.py\n" % __import__("monai").__version__)

    def volume(self, name, tensor, samples, label=False, box=None):
        arr = np.asarray(tensor.detach().cpu().numpy() if torch.is_tensor(tensor) else tensor)
        arr = arr[0] if arr.ndim == 4 else arr
        arr = arr.astype(np.float32)
        affine = np.asarray(tensor.affine, dtype=np.float64)
        f = self.f
        f.write("begin %s\n" % name)
        f.write("dim %d %d %d\n" % arr.shape)
        f.write("affine %s\n" % " ".join("%.17g" % v for v in affine.ravel()))
        a64 = arr.astype(np.float64)
        f.write("stats %.17g %.17g %.17g %.17g\n" % (a64.mean(), a64.std(), a64.min(), a64.max()))
        if label:
            weights = np.arange(arr.size, dtype=np.int64) % 65521 + 1
            values = np.rint(arr.ravel()).astype(np.int64)
            f.write("checksum %d\n" % int((values * weights).sum()))
        if box is not None:
            f.write("box %s\n" % " ".join("%d" % int(v) for v in box))
        rng = np.random.RandomState(zlib.crc32(name.encode()))
        for flat in rng.randint(0, arr.size, samples):
            i, j, k = np.unravel_index(flat, arr.shape)
            f.write("v %d %d %d %.9g\n" % (i, j, k, arr[i, j, k]))
        f.write("end\n")


def reoriented_copy(src_path, codes, folder):
    img = nib.load(src_path)
    if codes == "RAS":
        return src_path
    ornt = nib.orientations.ornt_transform(nib.io_orientation(img.affine),
                                           nib.orientations.axcodes2ornt(codes))
    out = img.as_reoriented(ornt)
    path = os.path.join(folder, "%s_%s.nii.gz" % (os.path.basename(src_path)[:-7], codes))
    nib.save(out, path)
    back = nib.load(path)
    assert "".join(nib.aff2axcodes(back.affine)) == codes
    return path


def inference_chain(pixdim):
    return Compose([
        LoadImaged(keys="image"),
        EnsureTyped(keys="image"),
        EnsureChannelFirstd(keys="image"),
        Orientationd(keys="image", axcodes="RAS"),
        Spacingd(keys="image", pixdim=[pixdim] * 3, mode="bilinear"),
        NormalizeIntensityd(keys="image", nonzero=True),
        ScaleIntensityd(keys="image", minv=-1.0, maxv=1.0),
    ])


def label_chain(pixdim):
    return Compose([
        LoadImaged(keys="label"),
        EnsureChannelFirstd(keys="label"),
        Orientationd(keys="label", axcodes="RAS"),
        Spacingd(keys="label", pixdim=[pixdim] * 3, mode="nearest"),
    ])


def run_inference(w, tag, image_path, label_path, pixdim, samples):
    chain = inference_chain(pixdim)
    names = [None, None, None, "orient", "spacing", "normalize", "scale"]
    d = {"image": image_path}
    for t, step in zip(chain.transforms, names):
        d = t(d)
        if step is not None:
            n = 0 if step == "orient" else samples
            w.volume("%s_p%g_%s" % (tag, pixdim, step), d["image"], n)
    if label_path is None:
        return
    label = label_chain(pixdim)({"label": label_path})["label"]
    assert tuple(label.shape) == tuple(d["image"].shape)
    assert np.allclose(label.affine.numpy(), d["image"].affine.numpy())
    ltag = tag.replace("ct", "label", 1)
    w.volume("%s_p%g_spacing" % (ltag, pixdim), label, samples, label=True)
    d["pred"] = label
    d = Invertd(keys="pred", transform=chain, orig_keys="image",
                nearest_interp=True, to_tensor=True)(d)
    inverted = d["pred"]
    w.volume("%s_p%g_inverted" % (ltag, pixdim), inverted, samples, label=True)
    original = np.asarray(nib.load(label_path).dataobj).astype(np.float32)
    diff = int((inverted[0].numpy() != original).sum())
    print("%s p%g: inverted label differs from the input label in %d of %d voxels"
          % (ltag, pixdim, diff, original.size))


def run_training(w, image_path, label_path, pixdim, samples):
    keys = ["image", "label"]
    chain = [
        LoadImaged(keys=keys), EnsureChannelFirstd(keys=keys), EnsureTyped(keys=keys),
        Orientationd(keys=keys, axcodes="RAS"),
        Spacingd(keys=keys, pixdim=[pixdim] * 3, mode=["bilinear", "nearest"]),
        NormalizeIntensityd(keys="image", nonzero=True),
        CropForegroundd(keys=keys, source_key="image", margin=10, k_divisible=[96, 96, 96]),
        GaussianSmoothd(keys=["image"], sigma=0.4),
        ScaleIntensityd(keys="image", minv=-1.0, maxv=1.0),
        EnsureTyped(keys=keys),
        CenterSpatialCropd(keys=keys, roi_size=[160, 160, 160]),
    ]
    d = {"image": image_path, "label": label_path}
    tag = "train_p%g" % pixdim
    for t in chain:
        d = t(d)
        if isinstance(t, CropForegroundd):
            box = list(d["foreground_start_coord"]) + list(d["foreground_end_coord"])
            w.volume(tag + "_crop_image", d["image"], samples, box=box)
            w.volume(tag + "_crop_label", d["label"], samples, label=True)
        elif isinstance(t, GaussianSmoothd):
            w.volume(tag + "_gaussian", d["image"], samples)
        elif isinstance(t, ScaleIntensityd):
            w.volume(tag + "_scale", d["image"], samples)
        elif isinstance(t, CenterSpatialCropd):
            w.volume(tag + "_center_image", d["image"], samples)
            w.volume(tag + "_center_label", d["label"], samples, label=True)


def run_label_only(w, tag, label_path, pixdim, samples):
    chain = label_chain(pixdim)
    d = chain({"label": label_path})
    w.volume("%s_p%g_spacing" % (tag, pixdim), d["label"], samples, label=True)
    inverted = chain.inverse(d)["label"]
    w.volume("%s_p%g_inverted" % (tag, pixdim), inverted, samples, label=True)
    original = np.asarray(nib.load(label_path).dataobj).astype(np.float32)
    diff = int((inverted[0].numpy() != original).sum())
    print("%s p%g: inverted label differs from the input label in %d of %d voxels"
          % (tag, pixdim, diff, original.size))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=os.path.join(here, "..", "..", "shared"))
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "data",
                                                      "transforms_monai_ref.txt"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = os.path.join(args.shared, "data")
    ct = os.path.join(data, "example_ct.nii.gz")
    label = os.path.join(data, "example_ct_label104.nii.gz")
    w = Writer(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        for codes in ORIENTATIONS:
            ct_path = reoriented_copy(ct, codes, tmp)
            label_path = reoriented_copy(label, codes, tmp)
            src = LoadImaged(keys=["image", "label"])({"image": ct_path, "label": label_path})
            w.volume("ct_%s_input" % codes, src["image"][None], 64)
            w.volume("label_%s_input" % codes, src["label"][None], 64, label=True)
            samples = 160 if codes == "RAS" else 48
            for pixdim in PIXDIMS:
                run_inference(w, "ct_%s" % codes, ct_path, label_path, pixdim, samples)
    for pixdim in PIXDIMS:
        run_inference(w, "ctsm", os.path.join(data, "example_ct_sm.nii.gz"), None, pixdim, 64)
        run_training(w, ct, label, pixdim, 96)
        run_label_only(w, "dicom_label", os.path.join(data, "example_ct_dicom_label104.nii.gz"),
                       pixdim, 96)
    w.f.close()
    print("wrote", args.out, os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()
