#!/usr/bin/env python3
"""segserve driven by MONAI Label's own Python client (monailabel.client,
the package installed without its dependencies: the client needs only
requests). Run by segserve_client.py with the python of the venv the
segserve test makes, against a segserve it started.

Logs in (the token as password, as 3D Slicer does), reads /info/, creates
a session with the CT and infers on it, uploads the CT into the datastore
and infers on that image, lists the datastore and removes the session. The
labels are saved into --work as label_monailabel_session.nii.gz and
label_monailabel_datastore.nii.gz; the C test compares them with
seginfer's. Exit 1 when any check failed."""
import argparse
import os
import shutil
import sys
import tempfile

from monailabel.client import MONAILabelClient

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)
    return condition


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--ct", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    tmpdir = tempfile.mkdtemp(dir=args.work)
    client = MONAILabelClient(args.url, tmpdir=tmpdir, client_id="segc-test")

    token = client.auth_token("slicer", args.token)
    check(token.get("access_token") == args.token, f"auth_token: {token}")
    client.update_auth(token)

    info = client.info()
    check(args.model in info.get("models", {}), f"info names the model: {list(info)}")
    labels = info.get("labels")
    check(labels is not None and len(labels) == 104, "info lists the 104 structures")

    session = client.create_session(args.ct)
    session_id = session.get("session_id")
    check(bool(session_id), f"create_session: {session}")
    label, params = client.infer(args.model, "", {}, session_id=session_id)
    check(label and os.path.exists(label), f"infer on the session: {label}")
    check(isinstance(params, dict) and "label_names" in params,
          f"infer returns the result params: {params}")
    if label and os.path.exists(label):
        shutil.copyfile(label, os.path.join(args.work, "label_monailabel_session.nii.gz"))

    client.upload_image(args.ct, image_id="case_monailabel")
    label, _ = client.infer(args.model, "case_monailabel", {})
    check(label and os.path.exists(label), f"infer on the datastore image: {label}")
    if label and os.path.exists(label):
        shutil.copyfile(label, os.path.join(args.work, "label_monailabel_datastore.nii.gz"))
    datastore = client.datastore()
    check("case_monailabel" in datastore.get("objects", {}),
          "the uploaded image is in the datastore")
    client.remove_session(session_id)

    shutil.rmtree(tmpdir, ignore_errors=True)
    print(f"monailabel client: {len(failures)} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
