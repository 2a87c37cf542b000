#!/usr/bin/env bash
# Transfer with few labels: the same ViT trained on 1,000 labelled Fashion-MNIST images from
# scratch, fine-tuned from SOURCE (a run directory or .safetensors file; timm's rules adapt
# pos_embed, patch size and channels, and the head starts fresh), and as a linear probe of
# SOURCE's features (train.freeze=backbone: only the head and fc_norm train).
#
#   SOURCE=runs/vit-small/<run-id> experiments/transfer.sh
#   SOURCE=vit_tiny.safetensors LABELS=5000 experiments/transfer.sh --set train.epochs=50
#
# LABELS   training labels (default 1000; data.subset takes LABELS/0.9 so that the validation
#          tenth leaves LABELS to train on)
# DATASET  the target dataset (default fashion-mnist)
# Settings (CONFIG, EXTRA, RUNS_DIR, JOBS, COMPARE, NAME): see _sweep.sh. Each run's test
# accuracy: deno task eval <run> --split test.
NAME=${NAME:-transfer}
: "${SOURCE:?set SOURCE to the run directory or .safetensors file to start from}"
# shellcheck source=_sweep.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_sweep.sh"

source_abs=$(_sweep_abs "$SOURCE")
subset=$(((${LABELS:-1000} * 10 + 8) / 9))
TARGET="--set data.dataset=${DATASET:-fashion-mnist} --set data.subset=$subset --set augment.hflip=0.5 --set train.epochs=100"
RUNS=(
  "$TARGET --set run.tags=[scratch]"
  "$TARGET --set run.tags=[fine-tune] --set model.init_from=$source_abs --set train.lr=5.0e-4 --set train.layer_decay=0.75"
  "$TARGET --set run.tags=[linear-probe] --set model.init_from=$source_abs --set train.freeze=backbone --set train.weight_decay=0"
)
sweep "$@"
