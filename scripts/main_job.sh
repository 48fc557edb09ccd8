#!/usr/bin/env bash
# The main job: install, build, then train the Fashion-MNIST MLP from configs/ and test the
# best checkpoint. Extra arguments go to `mmhook train` (e.g. --cfg-options train_cfg.max_epochs=5).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
./scripts/build.sh
./build/mmhook train configs/fashion_mnist_mlp.json --work-dir work_dirs/fashion_mnist_mlp "$@"
best=$(ls -t work_dirs/fashion_mnist_mlp/best_*.pth | head -1)
./build/mmhook test configs/fashion_mnist_mlp.json --work-dir work_dirs/fashion_mnist_mlp --checkpoint "$best"
