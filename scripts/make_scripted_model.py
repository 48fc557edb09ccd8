#!/usr/bin/python3
"""Writes tests/fixtures/scripted_cnn.pt: a small Fashion-MNIST CNN saved with torch.jit.save.

mmhook's TorchScriptModel trains it (config {"type": "TorchScriptModel", "path": ...}); its
checkpoints' state_dict loads back into this module (or into torch.jit.load of the file).

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_scripted_model.py [OUT.pt]
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


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "scripted_cnn.pt")
    torch.manual_seed(0)
    module = torch.jit.script(ScriptedCNN())
    torch.jit.save(module, out)
    print(f"wrote {os.path.normpath(out)}: "
          f"{sum(p.numel() for p in module.parameters())} parameters, "
          f"state_dict keys {list(module.state_dict().keys())}")


if __name__ == "__main__":
    main()
