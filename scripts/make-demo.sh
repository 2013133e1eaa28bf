#!/usr/bin/env bash
# Regenerates fixtures/demo.sql: loads fixtures/alkemio.sql into a scratch MariaDB
# database and dumps it with mariadb-dump (the demo pipeline reads the dump, no server).
set -euo pipefail
cd "$(dirname "$0")/.."
db="cvg_demo_$$"
mariadb -h127.0.0.1 -uroot -e "CREATE DATABASE \`$db\` CHARACTER SET utf8mb4"
trap 'mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$db\`"' EXIT
mariadb -h127.0.0.1 -uroot --default-character-set=utf8mb4 "$db" < fixtures/alkemio.sql
mariadb-dump -h127.0.0.1 -uroot --default-character-set=utf8mb4 --single-transaction --skip-dump-date --hex-blob "$db" \
  | sed "s/\`$db\`/\`alkemio\`/g; s/Database: $db/Database: alkemio/" > fixtures/demo.sql
echo "wrote fixtures/demo.sql ($(wc -c < fixtures/demo.sql) bytes)"
