#!/bin/bash
# Rebuild the base runs issue 17's sweeps start from (docs/experiments.md), on a fresh machine.
#
#   experiments/rebuild_bases.sh RUNS [cifar] [timit]      # both when none is named
#
# RUNS/cifar10-cpu: the cifar10-cpu preset on ../shared/data/cifar10-jpeg.tar (prepare, teacher,
#   label, mimic: the base mimic is mimic_seeds' seed 0, losses_20's l2_logits, ...).
# RUNS/timit-full: the TIMIT-sized stand-in (built into $TIMIT_STANDIN, default
#   RUNS/timit-standin-full, and checked), then timit-quick's prepare, teacher, label.
# Each step resumes: a rerun skips what is up to date and continues a killed stage.
# Run from the project root with the venv active; espeak-ng must be installed for the stand-in.
set -euo pipefail

RUNS=${1:?usage: experiments/rebuild_bases.sh RUNS [cifar] [timit]}
shift
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(cifar timit)
SHARED=${SHARED:-../shared}

cifar() {
  local W=$RUNS/cifar10-cpu
  python -m mimic_keras.fit prepare --preset cifar10-cpu --workdir "$W" \
      data.source="$SHARED/data/cifar10-jpeg.tar"
  for stage in teacher label mimic; do
    python -m mimic_keras.fit $stage --workdir "$W"
  done
}

timit() {
  local CACHE=${TIMIT_STANDIN:-$RUNS/timit-standin-full}
  # the stand-in is only trusted once its format check has passed; a build this script started
  # (marked beside the folder) and did not finish is redone; any other folder there is left alone
  if [ ! -f "$CACHE/.checked" ]; then
    if [ -e "$CACHE" ] && [ ! -f "$CACHE.building" ]; then
      echo "$CACHE exists and was not built by this script: remove it, or set TIMIT_STANDIN to another folder" >&2
      exit 2
    fi
    mkdir -p "$(dirname "$CACHE")"
    touch "$CACHE.building"
    rm -rf "$CACHE"
    python3 "$SHARED/tools/make_timit_standin.py" --out "$CACHE" --train-speakers 462 \
        --test-speakers 168 --utts 8 --sx-share 7 --max-dur 4.0 --seed 1993
    python3 "$SHARED/tools/make_timit_standin.py" --check "$CACHE"
    touch "$CACHE/.checked"
    rm "$CACHE.building"
  fi
  local W=$RUNS/timit-full
  python -m mimic_keras.fit prepare --preset timit-quick --timit "$CACHE" --workdir "$W" \
      name=timit-full data.full_test=true mimic_train.epochs=8 control_train.epochs=8
  for stage in teacher label; do
    python -m mimic_keras.fit $stage --workdir "$W"
  done
}

for target in "${TARGETS[@]}"; do
  case $target in
    cifar) cifar ;;
    timit) timit ;;
    *) echo "unknown base '$target': cifar or timit" >&2; exit 2 ;;
  esac
done
