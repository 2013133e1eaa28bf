#!/usr/bin/env bash
# The test command: provisions the servers the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
cargo test --all-targets "$@"
