-- The analyst queries `converge bench` times over the Parquet and the CSV of one export of
-- its dataset, and scripts/duckdb-queries.py runs with DuckDB over the same files. Each
-- starts with a `-- name:` line and ends with `;`. Every ORDER BY is total, so the answers
-- compare row for row.

-- name: group-by
SELECT kind, count(*) AS n, sum(amount) AS total, avg(amount) AS mean
FROM activity GROUP BY kind ORDER BY n DESC, kind LIMIT 5;

-- name: join
SELECT acc.email, count(*) AS n, sum(a.amount) AS total
FROM activity a JOIN post p ON p.id = a."postId" JOIN account acc ON acc.id = p."accountId"
GROUP BY acc.email ORDER BY n DESC, acc.email LIMIT 10;

-- name: top-n
SELECT title, score, views FROM post WHERE title LIKE '%ab%' ORDER BY title DESC LIMIT 10;
