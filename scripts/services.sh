#!/usr/bin/env bash
# Makes sure the MariaDB and PostgreSQL servers the tests talk to are running on
# 127.0.0.1:3306 (root, empty password) and 127.0.0.1:5432 (postgres, trust).
# Starts them when they are installed but stopped; installs them (Debian) when missing.
set -euo pipefail

have_mysql() { mariadb -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1 || mysql -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; }
have_pg() { pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v mariadbd >/dev/null 2>&1 && ! [ -x /usr/sbin/mariadbd ]; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client
fi
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client
fi
# PostGIS, for the tests that load spatial columns into geometry (each creates the
# extension in its own database only).
pg_major="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! [ -f "/usr/share/postgresql/$pg_major/extension/postgis.control" ]; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$pg_major-postgis-3"
fi

if ! have_mysql; then
  echo "starting MariaDB" >&2
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  for _ in $(seq 1 60); do have_mysql && break; sleep 1; done
fi
if ! have_pg; then
  echo "starting PostgreSQL" >&2
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 60); do have_pg && break; sleep 1; done
fi
have_mysql || { echo "MariaDB is not reachable on 127.0.0.1:3306 as root" >&2; exit 1; }
have_pg || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
# Trust auth for postgres over TCP is what the tests expect; say so if it is not there.
psql -h 127.0.0.1 -U postgres -d postgres -c 'SELECT 1' >/dev/null || { echo "PostgreSQL does not let user postgres in over TCP (trust auth expected)" >&2; exit 1; }
