#!/usr/bin/env bash
# Fault drills: does a real fault lose a run or let garbage in? Each drill does the thing for
# real against the clustermim binary (a short pretraining on Fashion-MNIST, checkpoint every
# step) and checks the outcome; a resumed run must reproduce the losses of an uninterrupted one.
#   tests/faults/run.sh [BUILD_DIR=build]
# Prints a table of what was tried and what survived, then "faults: N passed, M failed".
set -uo pipefail
build=${1:-build}
bin=$(cd "$build" && pwd)/clustermim
[[ -x $bin ]] || { echo "faults: $bin is missing (make build first)"; exit 2; }
work=$(mktemp -d)
mounted=""
cleanup() {
  [[ -n $mounted ]] && umount "$mounted" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

steps=24
global=(--threads 2 --workers 1 --cache-dir "$work/cache")
train=(pretrain --method clustermim --set pretrain.epochs=1 --set pretrain.max_steps=$steps
       --set pretrain.batch_size=32 --set pretrain.checkpoint_every=1 --set pretrain.keep_checkpoints=2
       --set tokenizer.vocab=16 --set tokenizer.max_patches=4096 --set tokenizer.iterations=5)
passed=0
failed=0
rows=()

# record NAME TRIED RESULT OK(0|1)
record() {
  rows+=("$(printf '%-22s | %-58s | %s' "$1" "$2" "$3")")
  if [[ $4 -eq 0 ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); rows[-1]+="  <-- FAILED"; fi
}

# train OUT_DIR [extra args...]: runs the short pretraining in the foreground.
train_run() {
  local out=$1
  shift
  "$bin" "${global[@]}" "${train[@]}" --out "$out" "$@" >>"$out.log" 2>&1
}

# The losses of a run's metrics.jsonl, one per line.
losses() { grep -o '"loss":[^,}]*' "$1/clustermim/metrics.jsonl" | cut -d: -f2; }

# same_losses DIR: 0 when DIR's losses equal the reference run's (relative 1e-5), all $steps.
same_losses() {
  paste <(losses "$work/ref") <(losses "$1") |
    awk -v n="$steps" '{ d = $1 - $2; if (d < 0) d = -d; s = $1 < 0 ? -$1 : $1;
                         if ($2 == "" || d > 1e-5 * (s + 1e-6)) bad++; c++ }
                       END { exit !(c == n && bad == 0) }'
}

# wait_for CONDITION_COMMAND... : polls every 5 ms for up to 60 s.
wait_for() {
  for _ in $(seq 12000); do
    "$@" && return 0
    sleep 0.005
  done
  return 1
}
steps_logged() { [[ -f $1/clustermim/metrics.jsonl ]] && (($(wc -l <"$1/clustermim/metrics.jsonl") >= $2)); }
temp_file_present() { compgen -G "$1/clustermim/ckpt-*.cmck.tmp.*" >/dev/null; }

mkdir -p "$work/cache"
train_run "$work/ref"
if [[ $(losses "$work/ref" | wc -l) -ne $steps ]]; then
  echo "faults: the reference run failed:"
  tail -5 "$work/ref.log"
  exit 1
fi

# 1. kill -9 in the middle of checkpoint writes (three times), then resume.
dir=$work/kill9
hits=0
for after in 3 6 9 12 15 18; do
  "$bin" "${global[@]}" "${train[@]}" --out "$dir" >>"$dir.log" 2>&1 &
  pid=$!
  wait_for steps_logged "$dir" "$after" && wait_for temp_file_present "$dir" && kill -9 "$pid"
  wait "$pid" 2>/dev/null
  temp_file_present "$dir" && hits=$((hits + 1))  # else the write finished before the kill landed
  ((hits == 3)) && break
done
train_run "$dir"
ok=1
[[ $hits -eq 3 ]] && same_losses "$dir" && ! temp_file_present "$dir" && ok=0
record "kill -9 mid-write" "3 kills while a checkpoint temp file was open, resume" \
  "$hits/3 kills hit a write; resumed losses == uninterrupted" $ok

# 2. A checkpoint cut short (as by a crash before the data reached the disk) is skipped.
dir=$work/truncated
"$bin" "${global[@]}" "${train[@]}" --out "$dir" >>"$dir.log" 2>&1 &
pid=$!
wait_for steps_logged "$dir" 12 && kill -9 "$pid"
wait "$pid" 2>/dev/null
newest=$(ls "$dir"/clustermim/ckpt-*.cmck | sort | tail -1)
truncate -s $(($(stat -c %s "$newest") / 2)) "$newest"
train_run "$dir"
ok=1
grep -q "skipping damaged checkpoint" "$dir.log" && same_losses "$dir" && ok=0
record "truncated checkpoint" "cut the newest checkpoint to half its size, resume" \
  "detected, previous one used; losses == uninterrupted" $ok

# 3. SIGTERM writes a checkpoint and exits non-zero; the same command resumes.
dir=$work/sigterm
"$bin" "${global[@]}" "${train[@]}" --out "$dir" >>"$dir.log" 2>&1 &
pid=$!
wait_for steps_logged "$dir" 8 && kill -TERM "$pid"
wait "$pid"
status=$?
train_run "$dir"
ok=1
[[ $status -ne 0 ]] && grep -q "stopped by signal 15" "$dir.log" && same_losses "$dir" && ok=0
record "SIGTERM" "SIGTERM after 8 steps, run the same command again" \
  "exit $status, checkpoint written; losses == uninterrupted" $ok

# 4. A full disk during a checkpoint write keeps the previous checkpoint and says so.
dir=$work/full
mkdir -p "$dir"
ckpt_bytes=$(stat -c %s "$(ls "$work"/ref/clustermim/ckpt-*.cmck | head -1)")
if mount -t tmpfs -o size=$((ckpt_bytes * 5 / 2 + 1048576)) tmpfs "$dir" 2>/dev/null; then
  mounted=$dir
  "$bin" "${global[@]}" "${train[@]}" --out "$dir/run" >"$work/full.log" 2>&1
  status=$?
  leftovers=$(compgen -G "$dir/run/clustermim/*.tmp.*" | wc -l)
  cp -r "$dir/run" "$work/after-full"
  umount "$dir" && mounted=""
  train_run "$work/after-full"
  ok=1
  [[ $status -ne 0 && $leftovers -eq 0 ]] && grep -q "No space left on device" "$work/full.log" &&
    grep -q "is intact" "$work/full.log" && same_losses "$work/after-full" && ok=0
  record "full disk" "out dir on a tmpfs with room for 2.5 checkpoints" \
    "exit $status, previous checkpoint intact, resumed elsewhere == uninterrupted" $ok
else
  record "full disk" "cannot mount a tmpfs here (needs root)" "skipped" 0
fi

# 5. Non-finite training stops after N bad steps in a row, with a checkpoint.
dir=$work/nan
train_run "$dir" --set pretrain.blr=1e30 --set pretrain.max_bad_steps=3
status=$?
ok=1
[[ $status -ne 0 ]] && grep -q "3 non-finite steps in a row" "$dir.log" &&
  compgen -G "$dir/clustermim/ckpt-*.cmck" >/dev/null && ok=0
record "non-finite loss" "blr = 1e30, pretrain.max_bad_steps = 3" \
  "exit $status, stopped with a clear message and a checkpoint" $ok

# 6. Corrupt inputs: one line naming the file, non-zero exit, nothing written.
mkdir -p "$work/bad/idx" "$work/bad/images/train/a" "$work/bad/images/train/b"
head -c 5000 /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz >"$work/bad/idx/train-images-idx3-ubyte.gz"
cp /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz "$work/bad/idx/"
"$bin" "${global[@]}" data info --split train --data "$work/bad/idx" >/dev/null 2>"$work/bad/idx.err"
status=$?
ok=1
[[ $status -ne 0 ]] && grep -q "error: .*train-images-idx3-ubyte.gz: truncated gzip data" "$work/bad/idx.err" && ok=0
record "truncated IDX file" "first 5000 bytes of the Fashion-MNIST train images" \
  "exit $status: $(head -c 70 "$work/bad/idx.err")..." $ok

head -c 300 "$(ls "$work"/ref/clustermim/ckpt-*.cmck | head -1)" >"$work/bad/tok.cmtk"
"$bin" "${global[@]}" tcas --data fashion-mnist --tokenizers "$work/bad/tok.cmtk" \
  --json "$work/bad/tcas.json" >/dev/null 2>"$work/bad/tok.err"
status=$?
ok=1
[[ $status -ne 0 && $(grep -c "error:" "$work/bad/tok.err") -eq 1 && ! -e $work/bad/tcas.json ]] &&
  tail -1 "$work/bad/tok.err" | grep -q "error: .*tok.cmtk" && ok=0
record "corrupt tokenizer" "a checkpoint cut to 300 bytes given as a tokenizer" \
  "exit $status, one line naming the file, no output" $ok

"$bin" "${global[@]}" "${train[@]}" --out "$work/badcfg" --set pretrain.epoch=3 >/dev/null 2>"$work/bad/cfg.err"
status=$?
ok=1
[[ $status -ne 0 && ! -e $work/badcfg/clustermim ]] && grep -q "pretrain.epoch" "$work/bad/cfg.err" && ok=0
record "unknown config key" "--set pretrain.epoch=3 (typo)" "exit $status, names the key, nothing trained" $ok

# A dataset whose every image is corrupt is rejected (partly corrupt ones: tests/test_cli.cpp).
for cls in a b; do
  printf '\x89PNG\r\n\x1a\n' >"$work/bad/images/train/$cls/broken.png"
  head -c 2000 "$work/bad/tok.cmtk" >"$work/bad/images/train/$cls/noise.jpg"
done
: >"$work/bad/images/train/b/empty.png"
"$bin" "${global[@]}" data info --split train --data "$work/bad/images" >/dev/null 2>"$work/bad/img.err"
status=$?
ok=1
[[ $status -ne 0 ]] && grep -q "error: .*decod" "$work/bad/img.err" && ok=0
record "only corrupt images" "an image folder of 5 broken files" "exit $status, rejected, not trained on" $ok

echo
printf '%-22s | %-58s | %s\n' "fault" "what was tried" "what survived"
printf '%s\n' "$(printf '%.0s-' $(seq 120))"
printf '%s\n' "${rows[@]}"
echo "faults: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
