#!/bin/sh
# The mysqldump-source benchmark (BENCHMARKS.md, "mysqldump source"):
# a generated ~1.2 GB dump → `converge run` (release build) → one CSV export,
# measured with /usr/bin/time -v (wall time, peak RSS).
#
#   CARGO_TARGET_DIR=/work/cargo-target cargo build --release
#   CARGO_TARGET_DIR=/work/cargo-target scripts/bench-dump.sh [DUMP] [OUT_DIR]
#
# DUMP defaults to /work/bench-data/bench.sql and is generated when missing
# (scripts/gen-dump.py, deterministic). Each run writes OUT_DIR/<migrationId>/.
set -eu
cd "$(dirname "$0")/.."
DUMP=${1:-/work/bench-data/bench.sql}
OUT=${2:-/work/bench-data/out}
BIN=${CONVERGE_BIN:-${CARGO_TARGET_DIR:-target}/release/converge}
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
if [ ! -f "$DUMP" ]; then
    mkdir -p "$(dirname "$DUMP")"
    python3 scripts/gen-dump.py "$DUMP"
fi
PIPE=$(mktemp --suffix=.toml)
trap 'rm -f "$PIPE"' EXIT
cat > "$PIPE" <<TOML
name = "bench"

[source]
kind = "mysqldump"
path = "$DUMP"

[options]
keep_audit_columns = true   # decode every column

[[sink]]
kind = "csv"
dir = "$OUT"
TOML
echo "dump: $DUMP ($(stat -c %s "$DUMP") bytes)" >&2
/usr/bin/time -v "$BIN" run "$PIPE"
