#!/usr/bin/env bash
# Train the shipped default models (models/mlp, models/cnn, models/strong) on every real
# QuickDraw-10 stroke drawing, and put each recipe's repeated k-fold score on its card.
# Run from the repository root:  bash models/train_defaults.sh
# Data: $SKETCHLAB_DATA, else ../shared/quickdraw. About 12 minutes on 2 CPU cores.
# The hyperparameters are sketchlab.evaluate.RECIPES (benchmarks/accuracy.py scores the same).
set -euo pipefail
export SKETCHLAB_DATA="${SKETCHLAB_DATA:-../shared/quickdraw}"
export TF_CPP_MIN_LOG_LEVEL=2
common=(--optimizer Adam --lr 0.001 --batch-size 32 --seed 0 --all-data --unbalanced --kfold 5 --kfold-repeats 2)
python -m sketchlab train --model mlp --epochs 60 "${common[@]}" --name "shipped MLP (seed 000's network)" --out models/mlp
python -m sketchlab train --model cnn --epochs 60 "${common[@]}" --name "shipped CNN (seed 004's network)" --out models/cnn
python -m sketchlab train --model strong --epochs 30 "${common[@]}" --name "shipped strong CNN (batch norm)" --out models/strong
