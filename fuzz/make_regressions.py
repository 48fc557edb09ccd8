#!/usr/bin/env python3
"""Writes fuzz/regressions/checkpoint/: archives with valid zip CRCs whose content is hostile
(run from the repository root with Debian's python3-torch). Each is a test of every build
(fuzz.checkpoint.replay) and its expected error is checked by tests/reliability
(CorruptCheckpointTest.HostileArchivesAreRejectedWithTheReason). These are the shapes that
crashed or could crash LibTorch 1.13's reader, which trusts them."""
import io
import struct
import zipfile

import torch

out = "fuzz/regressions/checkpoint"


def archive(**records):
    """torch.save of {'t': zeros(4)}, with records replaced (name -> bytes, or a function of the
    old bytes); zipfile recomputes the CRCs, so only the content is hostile."""
    buf = io.BytesIO()
    torch.save({"t": torch.zeros(4)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    res = io.BytesIO()
    with zipfile.ZipFile(res, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            base = info.filename.split("/", 1)[1]
            if base in records:
                r = records[base]
                data = r(data) if callable(r) else r
            dst.writestr(info.filename, data)
    return res.getvalue()


def size_to(new):
    def f(pkl):
        old = b"K\x04\x85"  # the size tuple (4,): BININT1 4, TUPLE1
        assert pkl.count(old) == 1, pkl
        return pkl.replace(old, new + b"\x85")
    return f


cases = {
    # A view reaching 400 MB past its 16-byte storage: read out of bounds by the first use.
    "tensor_past_storage.pth": archive(**{"data.pkl": size_to(b"J\x00\xe1\xf5\x05")}),
    "tensor_negative_size.pth": archive(**{"data.pkl": size_to(b"J\xff\xff\xff\xff")}),
    # Pickle streams no pickler writes (LibTorch 1.13's unpickler does not check them).
    "pickle_stack_underflow.pth": archive(**{"data.pkl": b"\x80\x02\x85."}),
    "pickle_get_unset_memo.pth": archive(**{"data.pkl": b"\x80\x02h\x05."}),
    "pickle_no_stop.pth": archive(**{"data.pkl": b"\x80\x02}q\x00"}),
    "pickle_huge_length.pth": archive(**{"data.pkl": b"\x80\x02\x8d" + b"\xff" * 8 + b"."}),
    "pickle_setitems_without_dict.pth": archive(**{"data.pkl": b"\x80\x02(K\x01K\x02u."}),
}
good = archive()
# The central directory's offset of the first local header moved past the end of the file.
eocd = good.rfind(b"PK\x05\x06")
cd_offset = struct.unpack_from("<I", good, eocd + 16)[0]
bad = bytearray(good)
struct.pack_into("<I", bad, cd_offset + 42, len(good) + 1000)
cases["zip_local_header_past_end.pth"] = bytes(bad)
for name, data in cases.items():
    with open(f"{out}/{name}", "wb") as f:
        f.write(data)
print("wrote", len(cases), "archives to", out)
