#!/usr/bin/env bash
# Train the shipped default models (models/mlp, models/cnn, models/strong) on every real
# QuickDraw-10 drawing: strokes (simplified + raw by key_id) and the official bitmap rows that
# are not the same drawing (17,815 drawings, up to 400x unbalanced), no validation split.
# Run from the repository root:  bash models/train_defaults.sh
# Data: $SKETCHLAB_DATA, else ../shared/quickdraw. Prints the wall time of each model and in all.
# The hyperparameters are sketchlab.evaluate.RECIPES; benchmarks/accuracy.py trains the same
# recipes on the held-out split's training rows and writes their figures onto these cards
# (--cards models).
set -euo pipefail
export SKETCHLAB_DATA="${SKETCHLAB_DATA:-../shared/quickdraw}"
export TF_CPP_MIN_LOG_LEVEL=2
common=(--optimizer Adam --lr 0.001 --batch-size 64 --seed 0 --all-data --unbalanced)
start=$SECONDS
python -m sketchlab train --model mlp --epochs 20 --balance sampling "${common[@]}" --name "shipped MLP (784→32→32→10)" --out models/mlp
echo "mlp: $((SECONDS - start)) s"
python -m sketchlab train --model cnn --epochs 20 --balance sqrt "${common[@]}" --name "shipped CNN (three conv layers)" --out models/cnn
echo "mlp+cnn: $((SECONDS - start)) s"
python -m sketchlab train --model strong --epochs 8 --balance sqrt "${common[@]}" --name "shipped strong CNN (batch norm)" --out models/strong
echo "all three: $((SECONDS - start)) s"
