#!/usr/bin/env bash
# The study (issue 7): does TCAS predict downstream accuracy, and does ClusterMIM beat MAE?
# Every row is one `clustermim run` of the same budget (configs/study-<dataset>.toml) in
# runs/study/<dataset>/<row>/. A finished row's report.json is copied to the committed record
# docs/study/<dataset>/<row>.json, from which the report is written, so results outlive the
# machine that produced them. A row with a record is skipped, an interrupted one resumes from its
# checkpoints, so the script can be rerun until it has done everything.
#
#   scripts/study.sh [cifar10|cifar10-finetune|fashion-mnist] [--only ROW] [--jobs N] [--list]
#   scripts/study.sh --report                                        docs/STUDY.md + plots
#
# --jobs N runs N rows at a time (default 1): on a GPU the study's small models leave the device
# mostly idle, so several rows share it. Rows that need pixel-64's encoder as teacher start after
# it, and feature-best-s1 after the other feature rows.
#
# Rows: label (oracle) and random tokens; pixel K-means K = 16, 64, 256, 1024; feature K-means
# on the pixel-64 encoder (the bootstrap of `run.rounds = 2`, its teacher block chosen by
# tokenizer.bootstrap_block = "auto") at K = 64, 256, 1024; MAE on pixels and on normalized
# pixels; the random-init encoder; a second seed of MAE, pixel-64 and the best feature row.
# pixel-64 runs again when a feature row is missing and its checkpoint is not on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CLUSTERMIM:-build/clustermim}
dataset=cifar10 only="" list=0 report=0 jobs=1
while (($#)); do
  case "$1" in
    cifar10|cifar10-finetune|fashion-mnist) dataset=$1 ;;
    --only) only=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --list) list=1 ;;
    --report) report=1 ;;
    *) echo "study: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

if ((report)); then
  bash scripts/setup.sh --bench
  exec /usr/bin/python3 scripts/study_report.py --records docs/study --out docs/STUDY.md
fi

config=configs/study-$dataset.toml
root=runs/study/$dataset records=docs/study/$dataset
if [[ $dataset == cifar10 ]]; then
  pixel_ks=(16 64 256 1024) feature_ks=(64 256 1024)
else
  pixel_ks=(16 64 256) feature_ks=(64 256)
fi

# The teacher of the feature rows: pixel-64's final checkpoint and the block its bootstrap chose.
teacher_sets() {
  local dir=$root/pixel-64 ckpt
  ckpt=$(ls "$dir"/clustermim/ckpt-*.cmck 2>/dev/null | sort | tail -1)
  [[ -n $ckpt && -f $dir/clustermim-r2-block.json ]] || return 1
  local block
  block=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["block"])' \
    "$dir/clustermim-r2-block.json")
  echo "tokenizer.kind=feature-kmeans tokenizer.teacher=$ckpt tokenizer.teacher_block=$block"
}

# The feature K whose row has the best linear probe so far (64 when none has finished).
best_feature_k() {
  /usr/bin/python3 - "$records" "${feature_ks[@]}" <<'PY'
import json, os, sys
root, best, best_acc = sys.argv[1], "64", -1.0
for k in sys.argv[2:]:
    path = os.path.join(root, ("pixel-64" if k == "64" else f"feature-{k}") + ".json")
    if not os.path.exists(path):
        continue
    for row in json.load(open(path))["rows"]:
        if row["method"] == ("clustermim-r2" if k == "64" else "clustermim") and row["linear_top1"] > best_acc:
            best, best_acc = k, row["linear_top1"]
print(best)
PY
}

# name|--set overrides (space-separated)|needs the teacher; in the order they start (pixel-64,
# the longest, first; the claims' two-seed comparisons early).
rows() {
  if [[ $dataset == cifar10-finetune ]]; then
    # Seed 0 first, whole; seed 1 without round 2 (the CPU budget: round 2 doubles pixel-64).
    local seed rounds=2
    for seed in 0 1; do
      local suffix="" sets="finetune.seed=$seed"
      ((seed == 0)) || suffix=-s$seed sets="$sets pretrain.seed=$seed tokenizer.seed=$seed" rounds=1
      echo "mae$suffix|run.methods=[\"mae\"] model.norm_pix=false $sets|"
      echo "random-init$suffix|run.methods=[\"random-init\"] $sets|"
      echo "pixel-64$suffix|tokenizer.kind=pixel-kmeans tokenizer.vocab=64 run.rounds=$rounds $sets|"
    done
    return
  fi
  echo "pixel-64|tokenizer.kind=pixel-kmeans tokenizer.vocab=64 run.rounds=2|"
  echo "mae|run.methods=[\"mae\"] model.norm_pix=false|"
  echo "pixel-64-s1|tokenizer.kind=pixel-kmeans tokenizer.vocab=64 pretrain.seed=1 tokenizer.seed=1|"
  echo "mae-s1|run.methods=[\"mae\"] model.norm_pix=false pretrain.seed=1|"
  echo "label|tokenizer.kind=label tokenizer.vocab=10|"
  echo "random|tokenizer.kind=random tokenizer.vocab=64|"
  for k in "${pixel_ks[@]}"; do
    [[ $k == 64 ]] || echo "pixel-$k|tokenizer.kind=pixel-kmeans tokenizer.vocab=$k|"
  done
  echo "mae-norm|run.methods=[\"mae\"] model.norm_pix=true|"
  echo "random-init|run.methods=[\"random-init\"]|"
  for k in "${feature_ks[@]}"; do
    [[ $k == 64 ]] || echo "feature-$k|tokenizer.vocab=$k|teacher"
  done
  echo "feature-best-s1|pretrain.seed=1 tokenizer.seed=1|teacher"
}

# The words of a command as a shell reads them back (single quotes where needed).
quote() {
  local a out=()
  for a; do
    if [[ $a =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
  done
  echo "${out[*]}"
}

# The wave a row starts in: 1; 2 for the rows that need pixel-64's encoder; 3 for
# feature-best-s1, which also needs the other feature rows.
stage() {
  case $1 in feature-best-s1) echo 3 ;; feature-*) echo 2 ;; *) echo 1 ;; esac
}

# A row is done when its record exists; pixel-64 also when a teacher row needs its checkpoint.
done_row() {
  [[ -f $records/$1.json ]] || return 1
  [[ $1 == pixel-64 ]] || return 0
  teacher_sets >/dev/null && return 0
  local name sets needs
  while IFS='|' read -r name sets needs; do
    [[ $needs != teacher || -f $records/$name.json ]] || return 1
  done < <(rows)
}

# The rows to run: all, or --only's row, with pixel-64 first when that row needs pixel-64's
# checkpoint as teacher and it is not on this machine.
selected() {
  [[ -z $only || $only == "$1" ]] && return 0
  [[ $1 == pixel-64 && $(stage "$only") != 1 ]] && ! teacher_sets >/dev/null
}

run_row() {
  local name=$1 sets=$2 needs=$3 out=$root/$1
  if done_row "$name"; then
    if ((list)); then
      printf '%-16s done: %s\n' "$name" "$(/usr/bin/python3 -c \
        'import json, sys; print(json.load(open(sys.argv[1]))["command"])' "$records/$name.json")"
    else
      echo "study: $name done"
    fi
    return 0
  fi
  if [[ $needs == teacher ]]; then
    local t
    t=$(teacher_sets) || { echo "study: $name waits for pixel-64 (its round 2 picks the teacher block)"; return 0; }
    sets="$t $sets"
    if [[ $name == feature-best-s1 ]]; then sets="$sets tokenizer.vocab=$(best_feature_k)"; fi
  fi
  local args=(run "$config" --out "$out") s
  local -
  set -f  # values such as run.methods=["mae"] are not file patterns
  for s in $sets; do args+=(--set "$s"); done
  if ((list)); then
    printf '%-16s todo: %s\n' "$name" "$(quote "$bin" "${args[@]}")"
    return 0
  fi
  echo "study: $name: $(quote "$bin" "${args[@]}")"
  mkdir -p "$out" "$records"
  if ((jobs > 1)); then
    "$bin" "${args[@]}" >>"$out/log.txt" 2>&1 || { echo "study: $name failed (log: $out/log.txt)"; return 1; }
  else
    "$bin" "${args[@]}" 2>&1 | tee -a "$out/log.txt"
  fi
  cp "$out/report.json" "$records/$name.json.tmp" && mv "$records/$name.json.tmp" "$records/$name.json"
  echo "study: $name finished: $records/$name.json"
}

# With CLUSTERMIM set (a binary built elsewhere, e.g. scripts/gpu_check.sh's build-gpu), no build.
((list)) || [[ -n ${CLUSTERMIM:-} ]] || make build >/dev/null
((list)) || [[ $dataset != cifar10* || -e ../shared/datasets/cifar10-jpg.tar.gz ]] ||
  { echo "study: ../shared/datasets/cifar10-jpg.tar.gz not found (configs/study-cifar10.toml)" >&2; exit 2; }
for s in 1 2 3; do
  while IFS='|' read -r name sets needs; do
    selected "$name" && [[ $(stage "$name") == "$s" ]] || continue
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
    if ((jobs > 1)); then run_row "$name" "$sets" "$needs" & else run_row "$name" "$sets" "$needs"; fi
  done < <(rows)
  wait
done
((list)) && exit 0
missing=$(while IFS='|' read -r name _; do
  ! selected "$name" || done_row "$name" || echo "$name"; done < <(rows))
[[ -z $missing ]] || { echo "study: not done: "$missing; exit 1; }
