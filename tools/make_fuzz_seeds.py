#!/usr/bin/env python3
"""Writes small hand-made seeds for the checkpoint fuzzer into
tests/fuzz/corpus_checkpoint_pt/ (standard library only).

Each is a stored zip like torch.save's with a tiny data.pkl that exercises
one corner of the unpickler: empty containers on an empty stack, nested
MARKs, memo use, LONG1 ints, BUILD, FRAME, a parameter wrapper, zip64 end
records. The fuzzer mutates from these; the regression test replays them.
"""
import os
import struct
import sys
import zipfile

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus_checkpoint_pt"

OD = b"ccollections\nOrderedDict\n"
REBUILD = b"ctorch._utils\n_rebuild_tensor_v2\n"


def s(text):  # BINUNICODE
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def tensor(key, storage_key="0", cls=b"FloatStorage", numel=4, offset=0,
           size=(2, 2), stride=(2, 1)):
    ints = lambda xs: b"(" + b"".join(b"J" + struct.pack("<i", x) for x in xs) + b"t"
    return (s(key) + REBUILD + b"((" + s("storage") + b"ctorch\n" + cls + b"\n" +
            s(storage_key) + s("cpu") + b"K" + bytes([numel]) + b"tQ" +
            b"K" + bytes([offset]) + ints(size) + ints(stride) + b"\x89}tR")


def archive(name, pickle, storages=(b"\0" * 16,), version=b"3\n", zip64=False):
    path = os.path.join(OUT, name)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("a/data.pkl", pickle)
        for i, data in enumerate(storages):
            z.writestr(f"a/data/{i}", data)
        z.writestr("a/version", version)
    if zip64:  # rewrite the end as zip64 records, the way torch writes them
        data = open(path, "rb").read()
        end = data.rindex(b"PK\x05\x06")
        count, size, offset = struct.unpack("<HII", data[end + 10:end + 20])
        record = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0,
                             count, count, size, offset)
        locator = struct.pack("<IIQI", 0x07064B50, 0, end, 1)
        tail = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF,
                           0xFFFFFFFF, 0xFFFFFFFF, 0)
        open(path, "wb").write(data[:end] + record + locator + tail)


def main():
    os.makedirs(OUT, exist_ok=True)
    p = b"\x80\x02"
    archive("seed_empty_tuple.pt", p + b").")
    archive("seed_empty_containers.pt", p + b"(t](e}(u\x87.")
    archive("seed_one_tensor.pt", p + OD + b")R(" + tensor("w") + b"u.")
    archive("seed_memo_build.pt", p + OD + b"q\x00)Rq\x01(" + tensor("w") +
            b"q\x02u}q\x03" + s("_metadata") + b"h\x00)R" + b"sb.")
    archive("seed_long_ints.pt", p + b"}(" + s("n") + b"\x8a\x08" +
            struct.pack("<q", -(2 ** 62)) + s("f") + b"G" +
            struct.pack(">d", 0.5) + b"u.")
    archive("seed_frame_proto4.pt", b"\x80\x04\x95" + struct.pack("<Q", 10) +
            b"}" + b"(" + s("model") + OD + b")R(" + tensor("w") + b"uu.")
    archive("seed_parameter.pt", p + b"}(" + s("p") +
            b"ctorch._utils\n_rebuild_parameter\n(" +
            tensor("x")[len(s("x")):] + b"\x89}tRu.")
    archive("seed_view_offset.pt", p + OD + b")R(" +
            tensor("v", numel=4, offset=1, size=(3,), stride=(1,)) + b"u.")
    archive("seed_zip64.pt", p + OD + b")R(" + tensor("w") + b"u.", zip64=True)
    archive("seed_half_bf16.pt", p + OD + b")R(" +
            tensor("h", cls=b"HalfStorage", numel=8) +
            tensor("b", storage_key="1", cls=b"BFloat16Storage", numel=8) +
            b"u.", storages=(b"\x01" * 16, b"\x02" * 16))
    print("wrote seeds to", OUT)


if __name__ == "__main__":
    main()
