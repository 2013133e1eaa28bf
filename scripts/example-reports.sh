#!/usr/bin/env bash
# Regenerates the example verification reports in docs/ from the application fixture:
# migrate it (pipelines/alkemio.toml), verify (passing report), damage the target in five
# ways, verify again (failing report). Needs the local servers (scripts/services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
db=cvg_docs_alkemio
bin="${CARGO_TARGET_DIR:-target}/debug/converge"
cargo build -q --bin converge
mysql -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db CHARACTER SET utf8mb4"
mysql -uroot -h127.0.0.1 --default-character-set=utf8mb4 "$db" < fixtures/alkemio.sql
psql -q -h127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -q -h127.0.0.1 -U postgres -d "$db" -v ON_ERROR_STOP=1 -f fixtures/alkemio_pg.sql
out=$(mktemp -d)
export MYSQL_URL="mysql://root@127.0.0.1:3306/$db" PG_URL="postgres://postgres@127.0.0.1:5432/$db"
export EXPORT_DIR="$out" CONVERGE_RUN_LOG="$out/runs.jsonl"
"$bin" --quiet run pipelines/alkemio.toml
"$bin" verify pipelines/alkemio.toml --report docs/verify-report-passed.md
psql -q -h127.0.0.1 -U postgres -d "$db" -v ON_ERROR_STOP=1 \
  -c "UPDATE \"user\" SET \"lastName\" = 'Lovelace ' WHERE \"firstName\" = 'Ada'" \
  -c "DELETE FROM comment WHERE id = (SELECT id FROM comment ORDER BY id LIMIT 1)" \
  -c "INSERT INTO tagset SELECT gen_random_uuid(), now(), now(), 1, name, type, tags, \"profileId\" FROM tagset LIMIT 1" \
  -c "SET session_replication_role = replica" \
  -c "UPDATE space SET \"parentSpaceId\" = '0b5e1c2a-9999-4a99-8a99-000000000099' WHERE \"parentSpaceId\" IS NOT NULL" \
  -c "DROP INDEX \"IDX_post_callout\""
"$bin" verify pipelines/alkemio.toml --report docs/verify-report-failed.md || true
mysql -uroot -h127.0.0.1 -e "DROP DATABASE $db"
psql -q -h127.0.0.1 -U postgres -c "DROP DATABASE $db"
rm -rf "$out"
