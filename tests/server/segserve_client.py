#!/usr/bin/env python3
"""Drives segserve as MONAI Label's client (monailabel/client/client.py) and
3D Slicer's MONAILabel module do, over loopback.

`pip install monailabel` pulls torch and MONAI (gigabytes): too much for a
CI test, so this is a client of its own written against the same API: the
same paths, query arguments, form fields and multipart encoding (fields
first, then files, one fixed boundary) as MONAI Label's client, and the
answers read the way it reads them. It starts segserve on a free port
(--port 0), checks every endpoint, the bad requests, a bounded load test and
SIGTERM, and saves each label it gets into --work for the C test to compare
with seginfer's. Exit 0 when every check passed.
"""

import argparse
import json
import mimetypes
import os
import shutil
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

MODEL = "wholeBody_ct_segmentation"
TOKEN = "segserve-test-token-0123456789"
MAX_UPLOAD_MB = 4
failures = []
checks = 0


def check(condition, what):
    global checks
    checks += 1
    if not condition:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)
    return condition


class Server:
    def __init__(self, args, work):
        self.work = work
        self.tmp = os.path.join(work, "tmp")
        self.studies = os.path.join(work, "studies")
        os.makedirs(self.tmp, exist_ok=True)
        os.makedirs(self.studies, exist_ok=True)
        token_file = os.path.join(work, "token.txt")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        command = [args.segserve, "--weights", args.weights, *shlex.split(args.options),
                   "--port", "0", "--studies", self.studies, "--token-file", token_file,
                   "--max-upload-mb", str(MAX_UPLOAD_MB), "--queue", "2"]
        # What a killed segserve leaves (its pid is gone): removed at start.
        dead = subprocess.Popen(["true"])
        dead.wait()
        self.stale = [os.path.join(self.tmp, f"segserve-{dead.pid}-AbCdEf"),
                      os.path.join(self.studies, f"upload-{dead.pid}-AbCdEf")]
        os.makedirs(os.path.join(self.stale[0], "uploads"))
        for path in (os.path.join(self.stale[0], "uploads", f"upload-{dead.pid}-x"), self.stale[1]):
            with open(path, "w") as f:
                f.write("half an upload")
        env = dict(os.environ, TMPDIR=self.tmp)
        self.stderr = open(os.path.join(work, "segserve_stderr.txt"), "w")
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.stderr,
                                        env=env, text=True)
        line = self.process.stdout.readline()
        while line and "listening on http://" not in line:
            line = self.process.stdout.readline()
        if "listening on http://" not in line:
            raise RuntimeError(f"segserve did not start: {line!r}; see {self.stderr.name}")
        self.url = line.split("listening on ")[1].split()[0]
        self.host, port = self.url[len("http://"):].split(":")
        self.port = int(port)
        self.stale_removed = not any(os.path.exists(p) for p in self.stale)
        roots = os.listdir(self.tmp)
        self.temp_root = os.path.join(self.tmp, roots[0]) if len(roots) == 1 else None
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def get(self, selector, **kw):
        return requests.get(self.url + selector, headers=kw.pop("headers", self.headers),
                            timeout=120, **kw)

    def rss_kb(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def leftovers(self):
        """Temporary upload files still present (none while idle)."""
        left = []
        if self.temp_root:
            left += os.listdir(os.path.join(self.temp_root, "uploads"))
        left += [n for n in os.listdir(self.studies) if n.startswith("upload-")]
        return left


def encode_multipart(fields, files):
    """MONAI Label client's encoding: fields, then files, fixed boundary."""
    limit = "----------lImIt_of_THE_fIle_eW_$"
    body = bytearray()
    for key, value in fields.items():
        body += f"--{limit}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n".encode()
        body += value.encode() + b"\r\n"
    for key, filename in files.items():
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        body += (f"--{limit}\r\nContent-Disposition: form-data; name=\"{key}\"; "
                 f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
        with open(filename, "rb") as f:
            body += f.read() + b"\r\n"
    body += f"--{limit}--\r\n".encode()
    return f"multipart/form-data; boundary={limit}", bytes(body)


def parse_multipart(content_type, body):
    """Splits a multipart/form-data answer into fields and files (by filename)."""
    boundary = content_type.split("boundary=")[1].strip('"').encode()
    form, files = {}, {}
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        data = data[:-2]  # the CRLF before the next boundary
        disposition = [h for h in head.decode().split("\r\n")
                       if h.lower().startswith("content-disposition")][0]
        params = dict(p.strip().split("=", 1) for p in disposition.split(";")[1:])
        name = params["name"].strip('"')
        if "filename" in params:
            files[params["filename"].strip('"')] = data
        else:
            form[name] = data.decode()
    return form, files


def infer(server, image_id, params, file=None, session_id=None, output=None,
          headers=None):
    """client.infer: POST /infer/{model}?image=...&session_id=... (multipart)."""
    selector = f"/infer/{MODEL}?image={requests.utils.quote(image_id)}"
    if session_id:
        selector += f"&session_id={requests.utils.quote(session_id)}"
    if output:
        selector += f"&output={output}"
    fields = {"params": json.dumps(params) if params else "{}"}
    files = {"file": file} if file and not session_id else {}
    content_type, body = encode_multipart(fields, files)
    h = dict(server.headers if headers is None else headers)
    h["content-type"] = content_type
    return requests.post(server.url + selector, data=body, headers=h, timeout=300)


def save_label(response, work, name):
    """Saves the label of an infer answer (multipart or the bare file)."""
    content_type = response.headers.get("content-type", "")
    params = None
    if "multipart" in content_type:
        form, files = parse_multipart(content_type, response.content)
        params = json.loads(form.get("params", "null"))
        if not check(len(files) == 1, f"{name}: one file in the multipart answer"):
            return params
        filename, data = next(iter(files.items()))
        check(filename.endswith(".nii.gz"), f"{name}: file name {filename} ends in .nii.gz")
    else:
        data = response.content
    with open(os.path.join(work, name), "wb") as f:
        f.write(data)
    return params


def expect_error(response, status, what):
    ok = check(response.status_code == status,
               f"{what}: status {response.status_code} (wanted {status}): {response.text[:200]}")
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    check(isinstance(detail, str) and detail, f"{what}: JSON body with a detail: {response.text[:200]}")
    return ok


def still_serving(server, what):
    r = server.get("/info/")
    check(r.status_code == 200, f"still serving after {what}: {r.status_code}")


def raw_request(server, data, read=True, shutdown_write=False):
    """Sends raw bytes; returns (status, body) of the answer or (None, b'')."""
    s = socket.create_connection((server.host, server.port), timeout=60)
    try:
        s.sendall(data)
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
        if not read:
            return None, b""
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            if _ and b"content-length:" in head.lower():
                length = int([l for l in head.decode().split("\r\n")
                              if l.lower().startswith("content-length:")][0].split(":")[1])
                if len(body) >= length:
                    break
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
        return status, answer.partition(b"\r\n\r\n")[2]
    finally:
        s.close()


def test_info(server):
    r = server.get("/info/", headers={})  # /info/ needs no token
    check(r.status_code == 200, f"GET /info/ without a token: {r.status_code}")
    info = r.json()
    model = info.get("models", {}).get(MODEL, {})
    check(model.get("type") == "segmentation", "model type segmentation")
    check(model.get("dimension") == 3, "model dimension 3")
    labels = model.get("labels", {})
    check(len(labels) == 104 and labels.get("spleen") == 1 and "background" not in labels,
          f"model labels: 104 without background, spleen 1 ({len(labels)})")
    check(info.get("labels", [None])[0] == "spleen" and len(info["labels"]) == 104,
          "app labels: names in label order")
    check(isinstance(info.get("version"), str) and info.get("name"), "name and version")
    check(info.get("datastore", {}).get("total") == 0, "empty datastore at start")


def test_auth(server):
    """MONAI Label client's login (3D Slicer: the token typed as password)."""
    r = requests.get(server.url + "/auth/", timeout=60)
    check(r.status_code == 200 and r.json().get("enabled") is True, f"GET /auth/: {r.text[:100]}")
    form = {"username": "slicer", "password": TOKEN, "grant_type": "password"}
    r = requests.post(server.url + "/auth/token", data=form, timeout=60)
    token = r.json() if r.status_code == 200 else {}
    check(token.get("access_token") == TOKEN and token.get("token_type", "").lower() == "bearer",
          f"POST /auth/token: {r.status_code} {r.text[:100]}")
    r = requests.get(server.url + "/auth/token/valid", timeout=60,
                     headers={"Authorization": f"{token.get('token_type')} {token.get('access_token')}"})
    check(r.status_code == 200, f"GET /auth/token/valid with the token: {r.status_code}")
    expect_error(requests.get(server.url + "/auth/token/valid", timeout=60), 401,
                 "token/valid without a token")
    expect_error(requests.post(server.url + "/auth/token", data=dict(form, password="nope"),
                               timeout=60), 401, "login with a wrong password")
    expect_error(requests.post(server.url + "/auth/token", data={"username": "x"}, timeout=60),
                 422, "login without a password")


def test_session_and_infer(server, ct, work):
    # client.create_session: requests.put(files=[("files", (name, fh))], data=params)
    with open(ct, "rb") as fh:
        r = requests.put(server.url + "/session/", files=[("files", (os.path.basename(ct), fh))],
                         data={"client_id": "test"}, headers=server.headers, timeout=60)
    check(r.status_code == 200, f"PUT /session/: {r.status_code} {r.text[:200]}")
    session_id = r.json().get("session_id", "")
    check(len(session_id) == 32 and r.json()["session_info"]["name"] == session_id,
          "session id and info")
    r = server.get(f"/session/{session_id}")
    check(r.status_code == 200 and r.json().get("name") == session_id, "GET /session/{id}")
    r = server.get(f"/session/{session_id}?image=true")
    with open(ct, "rb") as f:
        check(r.status_code == 200 and r.content == f.read(), "GET /session/{id}?image=true")
    # Slicer: infer(model, <volume node name>, params, session_id=...)
    r = infer(server, "CT volume node", {"client_id": "slicer"}, session_id=session_id)
    check(r.status_code == 200 and "multipart/form-data" in r.headers.get("content-type", ""),
          f"infer with a session: {r.status_code} {r.text[:200]}")
    params = save_label(r, work, "label_session.nii.gz")
    check(params and params.get("label_names", {}).get("liver") == 5,
          f"result params name the labels: {str(params)[:200]}")
    # A volume uploaded with the infer call, output=image: the bare file.
    r = infer(server, "", {}, file=ct, output="image")
    check(r.status_code == 200 and r.headers.get("content-type") == "application/octet-stream",
          f"infer with a file, output=image: {r.status_code} {r.text[:200]}")
    save_label(r, work, "label_upload.nii.gz")
    r = infer(server, "", {}, file=ct, output="json")
    check(r.status_code == 200 and "label_names" in r.json(), "infer output=json")
    r = requests.delete(server.url + f"/session/{session_id}", headers=server.headers, timeout=60)
    check(r.status_code == 200, f"DELETE /session/{{id}}: {r.status_code}")
    expect_error(server.get(f"/session/{session_id}"), 404, "deleted session")
    expect_error(infer(server, "x", {}, session_id=session_id), 404, "infer with a deleted session")


def test_datastore(server, ct, work):
    # client.upload_image: PUT /datastore/?image=ID, fields params, files file
    content_type, body = encode_multipart({"params": json.dumps({"client_id": "t"})},
                                          {"file": ct})
    h = dict(server.headers, **{"content-type": content_type})
    r = requests.put(server.url + "/datastore/?image=case1", data=body, headers=h, timeout=60)
    check(r.status_code == 200 and r.json() == {"image": "case1"},
          f"PUT /datastore/?image=case1: {r.status_code} {r.text[:200]}")
    with open(ct, "rb") as fh:
        r = requests.put(server.url + "/datastore/image", files={"file": ("case2.nii.gz", fh)},
                         headers=server.headers, timeout=60)
    check(r.status_code == 200 and r.json() == {"image": "case2"}, "PUT /datastore/image, id from the name")
    r = server.get("/datastore/?output=all")
    objects = r.json().get("objects", {}) if r.status_code == 200 else {}
    check(set(objects) == {"case1", "case2"} and objects["case1"]["image"]["ext"] == ".nii.gz",
          f"GET /datastore/?output=all: {r.text[:200]}")
    r = server.get("/datastore/?output=ids")
    check(r.status_code == 200 and sorted(r.json()) == ["case1", "case2"], "output=ids")
    r = server.get("/datastore/")
    check(r.status_code == 200 and r.json().get("total") == 2, "datastore stats")
    r = server.get("/datastore/image?image=case1")
    with open(ct, "rb") as f:
        check(r.status_code == 200 and r.content == f.read(), "GET /datastore/image")
    r = infer(server, "case1", {})
    check(r.status_code == 200, f"infer ?image=case1: {r.status_code} {r.text[:200]}")
    save_label(r, work, "label_datastore.nii.gz")
    r = infer(server, "case2", {}, output="image")
    check(r.status_code == 200, "infer ?image=case2&output=image")
    save_label(r, work, "label_image_only.nii.gz")
    check(server.get("/info/").json()["datastore"]["total"] == 2, "info counts the datastore")


def test_dicom_series(server, dicom, ct, work):
    """A DICOM series folder in the studies folder is an image: listed,
    downloaded as the series' NIfTI, inferred on (the C test compares both
    with segc's own reading of the folder and seginfer's label on it)."""
    target = os.path.join(server.studies, "ct_dicom")
    shutil.copytree(dicom, target)
    try:
        r = server.get("/datastore/?output=ids")
        check(r.status_code == 200 and "ct_dicom" in r.json(),
              f"the series folder is listed: {r.text[:200]}")
        r = server.get("/datastore/?output=all")
        objects = r.json().get("objects", {}) if r.status_code == 200 else {}
        check(objects.get("ct_dicom", {}).get("image", {}).get("ext") == "",
              f"the series has no file extension: {r.text[:300]}")
        r = server.get("/datastore/image?image=ct_dicom")
        check(r.status_code == 200 and r.content[:2] == b"\x1f\x8b",
              f"GET /datastore/image of the series: {r.status_code} {r.content[:100]!r}")
        with open(os.path.join(work, "series_download.nii.gz"), "wb") as f:
            f.write(r.content)
        r = infer(server, "ct_dicom", {}, output="image")
        check(r.status_code == 200, f"infer ?image=ct_dicom: {r.status_code} {r.text[:200]}")
        save_label(r, work, "label_dicom.nii.gz")
        # MONAI Label's output=dicom_seg: a DICOM SEG of the label.
        r = infer(server, "ct_dicom", {}, output="dicom_seg")
        check(r.status_code == 200 and r.content[128:132] == b"DICM",
              f"infer ?image=ct_dicom&output=dicom_seg: {r.status_code} {r.content[:100]!r}")
        with open(os.path.join(work, "seg_dicom.dcm"), "wb") as f:
            f.write(r.content)
        # A NIfTI has no DICOM source to refer to.
        expect_error(infer(server, "", {}, file=ct, output="dicom_seg"), 400,
                     "output=dicom_seg of a NIfTI upload")
        still_serving(server, "after the refused DICOM SEG")
    finally:
        shutil.rmtree(target)


def test_monailabel_client(server, python, ct, work):
    """MONAI Label's own client (tests/server/monailabel_client_check.py,
    run by the venv's python that has monailabel installed)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "monailabel_client_check.py")
    run = subprocess.run([python, script, "--url", server.url, "--token", TOKEN,
                          "--model", MODEL, "--ct", ct, "--work", work],
                         capture_output=True, text=True, timeout=600)
    print(run.stdout, end="")
    check(run.returncode == 0,
          f"MONAI Label's client: exit {run.returncode}: {run.stderr[-2000:]}")
    for name in os.listdir(server.studies):
        if name.startswith("case_monailabel"):
            os.remove(os.path.join(server.studies, name))


def test_bad_requests(server, ct, work):
    not_nifti = os.path.join(work, "notes.nii.gz")
    with open(not_nifti, "w") as f:
        f.write("this is not a NIfTI file\n" * 40)
    content_type, body = encode_multipart({"params": "{}"}, {})
    h = dict(server.headers, **{"content-type": content_type})
    cases = [
        ("PUT /session/ without files",
         lambda: requests.put(server.url + "/session/", data=body, headers=h, timeout=60), 422),
        ("unknown model", lambda: requests.post(server.url + "/infer/no_such_model?image=case1",
                                                data=body, headers=h, timeout=60), 404),
        ("infer without image, file or session", lambda: infer(server, "", {}), 422),
        ("infer of an unknown image", lambda: infer(server, "nope", {}), 404),
        ("GET /infer/{model}", lambda: server.get(f"/infer/{MODEL}"), 405),
        ("unknown path", lambda: server.get("/nothing/here"), 404),
        ("bad output", lambda: infer(server, "case1", {}, output="pdf"), 422),
        ("params not JSON", lambda: requests.post(
            server.url + f"/infer/{MODEL}?image=case1",
            data=encode_multipart({"params": "{not json"}, {})[1],
            headers=h, timeout=60), 400),
        ("non-NIfTI session upload", lambda: requests.put(
            server.url + "/session/", files=[("files", ("notes.nii.gz", open(not_nifti, "rb")))],
            headers=server.headers, timeout=60), 400),
        ("non-NIfTI infer upload", lambda: infer(server, "", {}, file=not_nifti), 400),
        ("non-NIfTI datastore upload", lambda: requests.put(
            server.url + "/datastore/?image=bad", files={"file": ("notes.nii.gz", open(not_nifti, "rb"))},
            headers=server.headers, timeout=60), 400),
        ("not multipart", lambda: requests.put(server.url + "/session/", data=b"raw bytes",
                                               headers=server.headers, timeout=60), 422),
        ("path traversal in a datastore id", lambda: server.get(
            "/datastore/image?image=..%2F..%2Fetc%2Fpasswd"), 400),
        ("path traversal in an upload id", lambda: requests.put(
            server.url + "/datastore/?image=../evil", files={"file": ("x.nii.gz", open(ct, "rb"))},
            headers=server.headers, timeout=60), 400),
        ("path traversal in an infer image", lambda: infer(server, "../../etc/passwd", {}), 400),
        ("path traversal in a session id", lambda: infer(server, "x", {}, session_id="../../x"), 400),
        ("encoded path traversal in a session path", lambda: server.get(
            "/session/..%2F..%2Fetc%2Fpasswd"), 400),
        ("missing token", lambda: server.get("/datastore/", headers={}), 401),
        ("wrong token", lambda: server.get("/datastore/", headers={"Authorization": "Bearer nope"}), 401),
        ("token of another scheme", lambda: server.get(
            "/datastore/", headers={"Authorization": f"Basic {TOKEN}"}), 401),
        ("infer without a token", lambda: infer(server, "case1", {}, headers={}), 401),
    ]
    for what, call, status in cases:
        expect_error(call(), status, what)
        still_serving(server, what)
    check(not os.path.exists(os.path.join(server.studies, "..", "evil.nii.gz")), "nothing written outside")
    check(sorted(os.listdir(server.studies)) == ["case1.nii.gz", "case2.nii.gz"],
          f"studies folder unchanged: {os.listdir(server.studies)}")

    auth = f"Authorization: Bearer {TOKEN}\r\n"
    # A multipart body cut before its closing boundary (Content-Length honest).
    content_type, body = encode_multipart({"params": "{}"}, {"files": ct})
    cut = body[: len(body) // 2]
    status, answer = raw_request(server, (
        f"PUT /session/ HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: {content_type}\r\n"
        f"Content-Length: {len(cut)}\r\nConnection: close\r\n\r\n").encode() + cut)
    check(status == 400 and b"truncated" in answer, f"truncated multipart: {status} {answer[:200]}")
    still_serving(server, "a truncated multipart body")
    # A connection closed mid-upload (Content-Length larger than what came).
    raw_request(server, (
        f"PUT /session/ HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n").encode() + cut, read=False)
    still_serving(server, "a connection closed mid-upload")
    # Oversized, announced: answered before the body is read.
    status, answer = raw_request(server, (
        f"PUT /session/ HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: {content_type}\r\n"
        f"Content-Length: {MAX_UPLOAD_MB * 1024 * 1024 + 1}\r\nConnection: close\r\n\r\n").encode())
    check(status == 413 and b"detail" in answer, f"oversized (Content-Length): {status} {answer[:200]}")
    still_serving(server, "an oversized announced body")

    # Oversized, streamed (chunked, no length): read, dropped, refused.
    def chunks():
        yield (f"--b0\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.nii.gz\"\r\n\r\n").encode()
        for _ in range(MAX_UPLOAD_MB + 1):
            yield b"\0" * (1024 * 1024)
        yield b"\r\n--b0--\r\n"
    r = requests.put(server.url + "/session/", data=chunks(),
                     headers=dict(server.headers, **{"content-type": "multipart/form-data; boundary=b0"}),
                     timeout=60)
    expect_error(r, 413, "oversized (chunked)")
    still_serving(server, "an oversized streamed body")
    # A traversal the client library would not send as such.
    status, answer = raw_request(server, (
        f"GET /session/../../etc/passwd HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").encode())
    check(status in (400, 404) and b"root:" not in answer, f"raw ../ in a session path: {status}")
    time.sleep(0.5)  # the aborted connection's completion
    check(server.leftovers() == [], f"no temporary upload files left: {server.leftovers()}")


def test_load(server, ct):
    """8 clients x 5 requests of /info/ and /datastore/, plus concurrent infers
    through the bounded queue (503 + Retry-After when full, then retried)."""
    rss_before = server.rss_kb()
    errors, busy = [], []

    def info_client():
        session = requests.Session()
        for _ in range(5):
            for selector in ("/info/", "/datastore/?output=all"):
                r = session.get(server.url + selector, headers=server.headers, timeout=60)
                if r.status_code != 200:
                    errors.append(f"{selector}: {r.status_code}")

    def infer_client(i):
        for attempt in range(200):
            r = infer(server, "case1" if i % 2 else "", {}, file=None if i % 2 else ct,
                      output="image")
            if r.status_code == 503:
                if "Retry-After" not in r.headers:
                    errors.append("503 without Retry-After")
                busy.append(i)
                time.sleep(0.2)
                continue
            if r.status_code != 200 or len(r.content) < 100:
                errors.append(f"infer {i}: {r.status_code} {r.text[:100]}")
            return
        errors.append(f"infer {i}: still busy after 200 tries")

    threads = [threading.Thread(target=info_client) for _ in range(8)]
    threads += [threading.Thread(target=infer_client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"load test: {errors[:5]}")
    rss_after = server.rss_kb()
    print(f"load test: 80 GETs and 4 infers, {len(busy)} answers 503 (queue full), "
          f"RSS {rss_before} kB -> {rss_after} kB")
    check(rss_after - rss_before < 64 * 1024, f"RSS growth bounded: {rss_before} -> {rss_after} kB")
    check(server.leftovers() == [], f"no temporary files after the load: {server.leftovers()}")


def test_sigterm(server, ct, work):
    """SIGTERM while an upload is half sent: the request is finished (its
    label sent whole), then segserve exits 0 with no temporary file left."""
    content_type, body = encode_multipart({"params": "{}"}, {"file": ct})
    s = socket.create_connection((server.host, server.port), timeout=120)
    s.sendall((f"POST /infer/{MODEL}?output=image HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {TOKEN}\r\nContent-Type: {content_type}\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode())
    s.sendall(body[: len(body) // 2])
    time.sleep(0.3)
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    check(server.process.poll() is None, "segserve waits for the request in flight")
    s.sendall(body[len(body) // 2:])
    answer = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        answer += chunk
    s.close()
    head, _, label = answer.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), f"the request in flight is answered: {head[:100]}")
    with open(os.path.join(work, "label_sigterm.nii.gz"), "wb") as f:
        f.write(label)
    try:
        rc = server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.process.kill()
        rc = None
    check(rc == 0, f"exit status 0 after SIGTERM: {rc}")
    check(os.listdir(server.tmp) == [], f"temporary folder removed: {os.listdir(server.tmp)}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--segserve", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--options", default="")
    parser.add_argument("--ct", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--dicom", default="", help="a DICOM series folder")
    parser.add_argument("--monailabel-python", default="",
                        help="a python that can import monailabel.client")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    server = Server(args, args.work)
    try:
        check(server.temp_root is not None, "one temporary folder per run")
        check(server.stale_removed, "a killed run's temporary files are removed at start")
        phases = [("auth", lambda: test_auth(server)),
                  ("info", lambda: test_info(server)),
                  ("sessions and infer", lambda: test_session_and_infer(server, args.ct, args.work)),
                  ("datastore", lambda: test_datastore(server, args.ct, args.work)),
                  ("bad requests", lambda: test_bad_requests(server, args.ct, args.work)),
                  ("load", lambda: test_load(server, args.ct)),
                  ("DICOM series", lambda: args.dicom and test_dicom_series(server, args.dicom, args.ct, args.work)),
                  ("MONAI Label client", lambda: args.monailabel_python and
                   test_monailabel_client(server, args.monailabel_python, args.ct, args.work)),
                  ("SIGTERM", lambda: test_sigterm(server, args.ct, args.work))]
        for name, phase in phases:
            start = time.time()
            phase()
            print(f"{name}: {time.time() - start:.1f} s")
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    print(f"segserve client: {checks} checks, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
