#!/usr/bin/env bash
# What pinning the CPU code paths costs (lm_backend::cpu_numerics), and whether it changes the
# numbers: the quick toy pipeline (`irlhf demo --quick`) under each setting, alternated over
# REPS rounds; prints each setting's median wall time, its ratio to the pinned default, and
# whether its tables equal the pinned default's (timing lines left out).
#   bash scripts/bench/cpu_numerics.sh [REPS]   (default 3; from the repository root, after make setup)
set -euo pipefail
REPS="${1:-3}"
cargo build -q -p irlhf-cli --bin irlhf
BIN=target/debug/irlhf
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
declare -A ENVS=(
  [pinned]=""
  [native]="IRLHF_CPU_NUMERICS=native"
  [mkl_compatible]="MKL_CBWR=COMPATIBLE"
  [aten_default]="ATEN_CPU_CAPABILITY=default"
)
ORDER=(pinned native mkl_compatible aten_default)
for r in $(seq 1 "$REPS"); do
  for name in "${ORDER[@]}"; do
    out="$WORK/$name-$r"
    start=$(date +%s.%N)
    env ${ENVS[$name]} "$BIN" demo --quick --out "$out" > "$out.log" 2>&1
    end=$(date +%s.%N)
    echo "$(echo "$end - $start" | bc)" >> "$WORK/$name.times"
    grep -v -e "^- .*: [0-9.]* s$" -e "pipeline finished" -e "CPU numerics" "$out/report.md" > "$WORK/$name-$r.tables"
  done
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
base=$(median "$WORK/pinned.times")
printf "| setting | median wall (s) | / pinned | tables equal to pinned |\n|---|---|---|---|\n"
for name in "${ORDER[@]}"; do
  m=$(median "$WORK/$name.times")
  same=yes
  for r in $(seq 1 "$REPS"); do
    cmp -s "$WORK/pinned-1.tables" "$WORK/$name-$r.tables" || same=no
  done
  printf "| %s | %.1f | %.3f | %s |\n" "$name" "$m" "$(echo "$m / $base" | bc -l)" "$same"
done
