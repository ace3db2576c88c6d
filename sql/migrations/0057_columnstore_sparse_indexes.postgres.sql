-- Plain PostgreSQL has no columnstore; see 0057_columnstore_sparse_indexes.timescaledb.sql.
SELECT 1;
