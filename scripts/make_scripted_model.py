#!/usr/bin/python3
"""Writes tests/fixtures/scripted_cnn.pt: a small Fashion-MNIST CNN saved with torch.jit.save,
and tests/fixtures/scripted_{raises,int_logits,detached}.pt: tiny modules that break the model
contract (a forward that raises, integer logits, logits cut off from the parameters).

It also writes the fixtures of the dict contract (MMEngine's BaseModel: `forward(batch, mode)`
returning a dict): scripted_dict_regression.pt, a Linear(4, 1) regressor with fixed weights, and
scripted_dict_{bad_args,bad_return,no_loss,nonscalar_loss,int_loss}.pt, tiny modules that break
that contract in one way each.

mmhook's TorchScriptModel trains it (config {"type": "TorchScriptModel", "path": ...}); its
checkpoints' state_dict loads back into this module (or into torch.jit.load of the file).

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_scripted_model.py [OUT.pt]
(the contract fixtures are written next to OUT.pt)
"""
import os
import sys
from typing import Dict

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


class DictRegression(nn.Module):
    """MMEngine's BaseModel contract: `forward(batch, mode)` with the batch's "inputs" [B, 4] and
    "labels" [B, 1]. Fixed weights (tests compute the expected numbers by hand):
    weight [[0.5, -0.25, 0.125, 1.0]], bias [0.1].

    mode "loss": {"loss_mse": mean(err^2), "loss_l1_scaled": 0.5 * mean(|err|),
    "max_abs_err": max(|err|)} with err = pred - labels (the two losses are summed, max_abs_err is
    only logged); mode "predict": {"pred": pred}; mode "tensor": {"raw": pred}.
    """

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[0.5, -0.25, 0.125, 1.0]]))
            self.linear.bias.fill_(0.1)

    def forward(self, batch: Dict[str, torch.Tensor], mode: str) -> Dict[str, torch.Tensor]:
        pred = self.linear(batch["inputs"])
        if mode == "loss":
            err = pred - batch["labels"]
            return {"loss_mse": (err * err).mean(), "loss_l1_scaled": 0.5 * err.abs().mean(),
                    "max_abs_err": err.abs().max().detach()}
        if mode == "predict":
            return {"pred": pred}
        if mode == "tensor":
            return {"raw": pred}
        raise RuntimeError("unknown mode " + mode)


class DictBadArgs(nn.Module):
    """A forward that fits neither contract: `forward(x: int)`."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x: int) -> torch.Tensor:
        return self.w * x


class DictBadReturn(nn.Module):
    """Takes (batch, mode) but returns a Tensor instead of a dict."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, batch: Dict[str, torch.Tensor], mode: str) -> torch.Tensor:
        return self.linear(batch["inputs"])


class DictNoLoss(nn.Module):
    """Loss mode returns no key containing "loss"."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, batch: Dict[str, torch.Tensor], mode: str) -> Dict[str, torch.Tensor]:
        err = self.linear(batch["inputs"]) - batch["labels"]
        return {"mse": (err * err).mean()}


class DictNonScalarLoss(nn.Module):
    """Loss mode returns a per-sample loss [B, 1]."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, batch: Dict[str, torch.Tensor], mode: str) -> Dict[str, torch.Tensor]:
        err = self.linear(batch["inputs"]) - batch["labels"]
        return {"loss_per_sample": err * err}


class DictIntLoss(nn.Module):
    """Loss mode returns, beside a good loss, an integer one."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, batch: Dict[str, torch.Tensor], mode: str) -> Dict[str, torch.Tensor]:
        err = self.linear(batch["inputs"]) - batch["labels"]
        return {"loss_mse": (err * err).mean(), "loss_count": (err.abs() > 0.1).sum()}


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
    torch.manual_seed(0)
    for name, cls in (("raises", Raises), ("int_logits", IntLogits), ("detached", Detached),
                      ("dict_regression", DictRegression), ("dict_bad_args", DictBadArgs),
                      ("dict_bad_return", DictBadReturn), ("dict_no_loss", DictNoLoss),
                      ("dict_nonscalar_loss", DictNonScalarLoss), ("dict_int_loss", DictIntLoss)):
        path = os.path.join(folder, f"scripted_{name}.pt")
        torch.jit.save(torch.jit.script(cls()), path)
        print(f"wrote {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
