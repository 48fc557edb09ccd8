#!/usr/bin/python3
"""Writes tests/fixtures/scripted_cnn.pt: a small Fashion-MNIST CNN saved with torch.jit.save,
and tests/fixtures/scripted_{raises,int_logits,detached}.pt: tiny modules that break the model
contract (a forward that raises, integer logits, logits cut off from the parameters).

mmhook's TorchScriptModel trains it (config {"type": "TorchScriptModel", "path": ...}); its
checkpoints' state_dict loads back into this module (or into torch.jit.load of the file).

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_scripted_model.py [OUT.pt]
(the contract fixtures are written next to OUT.pt)
"""
import os
import sys

import torch
from torch import nn


class ScriptedCNN(nn.Module):
    """Conv(1->4, 3x3, pad 1) + BatchNorm + ReLU + MaxPool(4) -> Linear(4*7*7, 10): logits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 7 * 7, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.bn(self.conv(x))), 4)
        return self.head(x)


class Raises(nn.Module):
    """Raises from scripted code: the interpreter's error carries a traceback."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.size(0) > 0:
            raise RuntimeError("scripted forward refuses this batch")
        return x.flatten(1)[:, :4] @ self.w


class IntLogits(nn.Module):
    """Returns integer logits."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1)[:, :4] @ self.w).to(torch.int64)


class Detached(nn.Module):
    """Returns logits detached from its parameters: the loss cannot be backpropagated."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1)[:, :4] @ self.w).detach()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "scripted_cnn.pt")
    torch.manual_seed(0)
    module = torch.jit.script(ScriptedCNN())
    torch.jit.save(module, out)
    print(f"wrote {os.path.normpath(out)}: "
          f"{sum(p.numel() for p in module.parameters())} parameters, "
          f"state_dict keys {list(module.state_dict().keys())}")
    folder = os.path.dirname(os.path.abspath(out))
    for name, cls in (("raises", Raises), ("int_logits", IntLogits), ("detached", Detached)):
        path = os.path.join(folder, f"scripted_{name}.pt")
        torch.jit.save(torch.jit.script(cls()), path)
        print(f"wrote {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
