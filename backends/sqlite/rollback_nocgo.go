//go:build !cgo

package sqlite

import (
	"database/sql"
	"database/sql/driver"
)

// rollback discards the connection: without cgo the driver opens none, so
// this only keeps the package building (sqlite:// then says it needs cgo).
func rollback(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
}

func inTx(*sql.Conn) bool { return false }
