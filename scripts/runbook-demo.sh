#!/usr/bin/env bash
# The walk-through behind docs/runbook.md: a MariaDB of its own with the binary log on
# (port 3407, under a temporary directory), a small application database written to
# throughout, and the migration day with `run --follow`, `verify --online`, `repair` and
# `cutover`. Prints every command and what it printed. Needs mariadb-install-db,
# mariadbd and the local PostgreSQL (postgres@127.0.0.1:5432, trust).
#   CONVERGE=target/debug/converge bash scripts/runbook-demo.sh
set -uo pipefail
CONVERGE="${CONVERGE:-converge}"
DIR="$(mktemp -d)"
PORT=3407
MY="mariadb --no-defaults -h127.0.0.1 -P$PORT -uroot"
export CONVERGE_RUN_LOG="$DIR/migration_runs.log"
cleanup() {
  [[ -n "${WRITER:-}" ]] && kill "$WRITER" 2>/dev/null
  [[ -n "${FOLLOWER:-}" ]] && kill -INT "$FOLLOWER" 2>/dev/null
  [[ -n "${SERVER:-}" ]] && kill "$SERVER" 2>/dev/null
  psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS runbook_app WITH (FORCE)' postgres
  wait 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
show() { echo; echo "\$ $*"; "$@"; echo "(exit $?)"; }

mkdir -p "$DIR/tmp"
mariadb-install-db --no-defaults --user=root --auth-root-authentication-method=normal --skip-test-db \
  --datadir="$DIR/data" --tmpdir="$DIR/tmp" >/dev/null
mariadbd --no-defaults --user=root --bind-address=127.0.0.1 --port=$PORT --datadir="$DIR/data" \
  --socket="$DIR/mariadb.sock" --tmpdir="$DIR/tmp" --log-bin=binlog --binlog-format=ROW --server-id=1 \
  >"$DIR/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do $MY -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
$MY <<'SQL'
CREATE DATABASE app;
CREATE TABLE app.user (id bigint unsigned AUTO_INCREMENT PRIMARY KEY, email varchar(100) NOT NULL UNIQUE,
  name varchar(50), created timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), profile json);
CREATE TABLE app.`order` (id int AUTO_INCREMENT PRIMARY KEY, user_id bigint unsigned NOT NULL,
  amount decimal(12,2), placed datetime(6), FOREIGN KEY (user_id) REFERENCES app.user (id));
SQL
for i in $(seq 1 2000); do
  echo "INSERT INTO app.user (email, name, profile) VALUES ('u$i@example.org', 'User $i', '{\"n\": $i}');"
  echo "INSERT INTO app.\`order\` (user_id, amount, placed) VALUES ($i, $i.50, NOW(6));"
done | $MY
psql -q -h 127.0.0.1 -U postgres -c 'CREATE DATABASE runbook_app' postgres

cat >"$DIR/app.toml" <<TOML
name = "app"
[source]
kind = "mysql"
url = "mysql://root@127.0.0.1:$PORT/app"
[follow]
[[sink]]
kind = "postgres"
url = "postgres://postgres@127.0.0.1:5432/runbook_app"
create = "missing"
TOML
cd "$DIR"

# The application keeps writing: about 40 transactions a second.
( n=0; while true; do n=$((n+1))
  $MY -e "INSERT INTO app.user (email, name) VALUES ('new$n@example.org', 'New $n');
          UPDATE app.\`order\` SET amount = amount + 1 WHERE id = 1 + ($n * 7) % 2000;
          DELETE FROM app.\`order\` WHERE id = 1 + ($n * 13) % 2000;" 2>/dev/null
  sleep 0.025; done ) &
WRITER=$!

show "$CONVERGE" plan app.toml
echo; echo "\$ $CONVERGE run app.toml --follow &"
"$CONVERGE" run app.toml --follow >"$DIR/follow.out" 2>"$DIR/follow.err" &
FOLLOWER=$!
sleep 8
show "$CONVERGE" verify app.toml --online
# Someone changes a row in PostgreSQL behind the follower's back.
psql -q -h 127.0.0.1 -U postgres -d runbook_app -c "UPDATE \"user\" SET name = 'Changed by hand' WHERE id = 42"
echo; echo "\$ $CONVERGE verify app.toml --online --json > verify.json"
"$CONVERGE" verify app.toml --online --json >verify.json; echo "(exit $?)"
show "$CONVERGE" repair app.toml --from verify.json
show "$CONVERGE" verify app.toml --online
sleep 2
# Step 6: the application stops writing.
kill "$WRITER"; wait "$WRITER" 2>/dev/null; WRITER=
show "$CONVERGE" cutover app.toml
sleep 1
echo; echo "# the follower's own output (run --follow):"
cat "$DIR/follow.out" "$DIR/follow.err" | grep -v '^progress:' | tail -20
FOLLOWER=
echo; echo "# the run log:"
cat "$CONVERGE_RUN_LOG"
