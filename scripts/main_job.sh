#!/usr/bin/env bash
# The main job: install, build, train the Fashion-MNIST CNN from configs/, test the best
# checkpoint and plot loss, learning rate and accuracy. Extra arguments go to `mmhook train`
# (e.g. --cfg-options train_cfg.max_epochs=3). CONFIG=configs/fashion_mnist_mlp.json picks the MLP.
set -euo pipefail
cd "$(dirname "$0")/.."
config="${CONFIG:-configs/fashion_mnist_cnn.json}"
name=$(basename "$config" .json)
work_dir="work_dirs/$name"
./scripts/install_deps.sh
./scripts/build.sh
start=$(date +%s)
./build/mmhook train "$config" --work-dir "$work_dir" "$@"
echo "main_job: training took $(( $(date +%s) - start )) s"
best=$(ls -t "$work_dir"/best_*.pth | head -1)
./build/mmhook test "$config" --work-dir "$work_dir" --checkpoint "$best"
./build/mmhook plot "$work_dir" -o "$work_dir/plot.png"
log=$(ls -t "$work_dir"/*/*.log | head -1)
cat <<MSG
main_job: done.
  plot:            $work_dir/plot.png
  text log:        $log
  best checkpoint: $best
  TensorBoard:     tensorboard --logdir $work_dir
MSG
