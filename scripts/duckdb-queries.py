#!/usr/bin/env python3
"""DuckDB beside `converge query`, over the same files of one export.

Runs each query of scripts/bench-queries.sql with DuckDB over the export's Parquet files
and over its CSV files (typed from the manifest's logical types), and with
`converge query --files parquet|csv`, each several times, and prints the median seconds
and whether the answers agree (numbers compared to 1e-9 relative: DuckDB's avg of a
decimal is a double, DataFusion's a decimal).

    pip install duckdb
    converge bench --rows 3000000 --keep          # leaves bench-3000000/both/<run>/
    scripts/duckdb-queries.py WORK/bench-3000000/both/<run> --converge target/release/converge

DuckDB is timed in-process (a fresh connection, the views created, the query run and
fetched); converge as a whole command (process start and registration included), as
`converge bench` times it. `--threads` sets DuckDB's threads (default: all cores).
"""
import argparse
import csv
import decimal
import io
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def queries(path):
    out, name, sql = [], None, []
    for line in open(path, encoding="utf-8"):
        if line.startswith("-- name:"):
            name, sql = line.split(":", 1)[1].strip(), []
        elif line.startswith("--") or not line.strip():
            continue
        elif name is not None:
            sql.append(line.strip())
            if line.rstrip().endswith(";"):
                out.append((name, " ".join(sql).rstrip(";")))
                name = None
    return out


def duck_type(logical):
    """The DuckDB type a CSV column is read as: the numeric and boolean types exactly,
    everything else as the text the export wrote (as converge's CSV reader keeps uuids)."""
    fixed = {"bool": "BOOLEAN", "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER",
             "int64": "BIGINT", "uint64": "UBIGINT", "float32": "FLOAT", "float64": "DOUBLE"}
    if logical in fixed:
        return fixed[logical]
    if logical.startswith("decimal("):
        p, s = (int(x) for x in logical[8:-1].split(","))
        return f"DECIMAL({p},{s})" if p <= 38 else "VARCHAR"
    return "VARCHAR"


def views(con, export, files):
    manifest = json.load(open(os.path.join(export, "migration_manifest.json"), encoding="utf-8"))
    for t in manifest["tables"]:
        name = t["name"].replace('"', '""')
        if files == "parquet":
            paths = [os.path.join(export, p["file"]) for p in t.get("parquet", [])]
            src = f"read_parquet({paths!r})"
        else:
            cols = {c["name"]: duck_type(c["logicalType"]) for c in t["columns"]}
            cols_sql = "{" + ", ".join(f"'{k}': '{v}'" for k, v in cols.items()) + "}"
            path = os.path.join(export, t["file"])
            src = (f"read_csv('{path}', header=true, delim=',', quote='\"', escape='\"', "
                   f"nullstr='\\N', columns={cols_sql})")
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {src}')


def run_duckdb(export, files, sql, threads):
    import duckdb
    started = time.perf_counter()
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    views(con, export, files)
    rows = con.execute(sql).fetchall()
    seconds = time.perf_counter() - started
    con.close()
    return seconds, [[None if v is None else str(v) for v in r] for r in rows]


def run_converge(binary, export, files, sql):
    started = time.perf_counter()
    out = subprocess.run([binary, "--quiet", "query", "--files", files, "--format", "csv", export, sql],
                         check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - started
    rows = list(csv.reader(io.StringIO(out)))[1:]
    return seconds, [[None if v == "\\N" else v for v in r] for r in rows]


def same(a, b):
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b):
        if len(ra) != len(rb):
            return False
        for x, y in zip(ra, rb):
            if x == y:
                continue
            if x is None or y is None:
                return False
            try:
                dx, dy = decimal.Decimal(x), decimal.Decimal(y)
            except decimal.InvalidOperation:
                return False
            if abs(dx - dy) > abs(dy) * decimal.Decimal("1e-9"):
                return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export")
    ap.add_argument("--converge", default="converge")
    ap.add_argument("--queries", default=os.path.join(HERE, "bench-queries.sql"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    import duckdb
    print(f"duckdb {duckdb.__version__}; {a.repeat} runs each, median seconds")
    print(f"{'query':<10} {'files':<8} {'duckdb':>8} {'converge':>9} {'ratio':>6}  answers")
    ok = True
    for name, sql in queries(a.queries):
        for files in ("parquet", "csv"):
            d, c = [], []
            for _ in range(a.repeat):
                sd, rd = run_duckdb(a.export, files, sql, a.threads)
                sc, rc = run_converge(a.converge, a.export, files, sql)
                d.append(sd)
                c.append(sc)
            agree = same(rc, rd)
            ok &= agree
            md, mc = statistics.median(d), statistics.median(c)
            print(f"{name:<10} {files:<8} {md:>8.3f} {mc:>9.3f} {mc / md:>6.2f}  {'same' if agree else 'DIFFER'}")
            if not agree:
                print(f"  duckdb:   {rd}\n  converge: {rc}", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
