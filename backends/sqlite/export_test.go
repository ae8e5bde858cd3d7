package sqlite

// DSN is the data source name Open uses for the writer (or a reader) of
// the file at path with default options, for benchmarks that compare with
// plain database/sql on the same pragmas.
func DSN(path string, writer bool) string { return dsn(path, defaultConfig(), writer) }
