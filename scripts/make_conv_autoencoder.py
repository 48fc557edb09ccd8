#!/usr/bin/python3
"""Writes tests/fixtures/conv_autoencoder.pt: a small convolutional autoencoder for 28x28
grey images (Fashion-MNIST), scripted with torch.jit.script, following mmhook's dict contract
(MMEngine's BaseModel.forward, docs/design.md §A7):

    forward(batch: Dict[str, Tensor], mode: str) -> Dict[str, Tensor]

batch["inputs"] is float [B, 1, 28, 28] with values in [0, 1] (the built-in FashionMNIST
dataset without a Normalize transform). Mode "loss" returns {"loss": mean squared error of the
reconstruction}; modes "predict" and "tensor" return {"outputs": reconstruction}, float
[B, 1, 28, 28] in (0, 1) (a sigmoid). The metrics read "outputs" and the batch's "inputs".

Layers: Conv(1->16, 3x3, stride 2) 28->14, Conv(16->32, 3x3, stride 2) 14->7, then
ConvTranspose(32->16) 7->14 and ConvTranspose(16->1) 14->28, ReLU between, sigmoid at the end;
9,569 parameters. The weights are PyTorch's default initialisation under torch.manual_seed(0):
every run of this script with the same PyTorch writes the same weights (the archive's bytes
differ between runs, as torch.jit.save records where its source came from).

bindings/go/examples/autoencoder trains it (config {"type": "TorchScriptModel", "path": ...}).

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_conv_autoencoder.py [OUT.pt]
"""
import os
import sys
from typing import Dict

import torch
from torch import nn


class ConvAutoencoder(nn.Module):
    """Two strided convolutions down to 32x7x7, two transposed convolutions back to 1x28x28."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())

    def forward(self, batch: Dict[str, torch.Tensor], mode: str) -> Dict[str, torch.Tensor]:
        x = batch["inputs"]
        recon = self.decoder(self.encoder(x))
        if mode == "loss":
            return {"loss": torch.nn.functional.mse_loss(recon, x)}
        return {"outputs": recon}


def check(module: torch.jit.ScriptModule) -> None:
    """Fails unless the module keeps the contract on a batch of random images."""
    x = torch.rand(5, 1, 28, 28)
    out = module({"inputs": x}, "predict")["outputs"]
    assert out.shape == x.shape, f"outputs shape {tuple(out.shape)}, want {tuple(x.shape)}"
    assert float(out.min()) > 0.0 and float(out.max()) < 1.0, "outputs outside (0, 1)"
    loss = module({"inputs": x}, "loss")["loss"]
    assert loss.numel() == 1 and loss.dtype == torch.float32, "loss is not a float scalar"
    assert abs(float(loss) - float(((out - x) ** 2).mean())) < 1e-6, "loss is not the MSE"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "conv_autoencoder.pt")
    torch.manual_seed(0)
    module = torch.jit.script(ConvAutoencoder())
    module.eval()
    check(module)
    torch.jit.save(module, out)
    check(torch.jit.load(out))
    params = sum(p.numel() for p in module.parameters())
    print(f"wrote {out} ({params} parameters, {os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
