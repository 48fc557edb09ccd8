#!/usr/bin/env python3
"""Writes the Python-made seeds of fuzz/corpus/ (run from the repository root with Debian's
python3-torch): small torch.save archives in the shapes the checkpoint loader must read, and
small idx files, plain and gzipped. mmhook's own checkpoint seed (corpus/checkpoint/
mmhook_toy.pth) comes from `mmhook train` (fuzz/README.md)."""
import collections
import gzip
import struct

import torch

out = "fuzz/corpus"
torch.manual_seed(0)

# A bare state dict (OrderedDict with _metadata, SETITEM for one-key dicts).
sd = collections.OrderedDict([("weight", torch.randn(3, 2)), ("bias", torch.zeros(3))])
torch.save(sd, f"{out}/checkpoint/state_dict.pth")
torch.save({"state_dict": collections.OrderedDict([("w", torch.ones(2))])},
           f"{out}/checkpoint/one_key.pth")
# MMEngine's checkpoint shape: meta, state_dict, optimizer state with nested lists and tuples.
torch.save({
    "meta": {"epoch": 1, "iter": 4, "seed": 0, "mmengine_version": "0.10.7"},
    "state_dict": sd,
    "optimizer": {"state": {0: {"momentum_buffer": torch.randn(3, 2)}},
                  "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1],
                                    "betas": (0.9, 0.999)}]},
    "message_hub": {"log_scalars": {}, "runtime_info": {"iter": 4}},
}, f"{out}/checkpoint/mmengine_style.pth")
# Views, dtypes and an empty tensor: offsets and strides into shared storages.
base = torch.arange(12, dtype=torch.float64)
torch.save({"a": base[2:8].view(2, 3), "b": base.view(3, 4).t(), "c": torch.empty(0, 5),
            "d": torch.tensor([1, 2, 3], dtype=torch.int64), "e": torch.tensor([True, False])},
           f"{out}/checkpoint/views.pth")


def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


images = idx(0x803, [2, 3, 3], bytes(range(18)))
labels = idx(0x801, [4], bytes([0, 9, 3, 1]))
for name, data in [("images.idx", images), ("labels.idx", labels)]:
    with open(f"{out}/idx/{name}", "wb") as f:
        f.write(data)
    with gzip.open(f"{out}/idx/{name}.gz", "wb") as f:
        f.write(data)
with open(f"{out}/idx/empty_images.idx", "wb") as f:
    f.write(idx(0x803, [0, 28, 28], b""))
