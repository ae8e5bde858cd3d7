//go:build cgo

package sqlite

import (
	"database/sql"
	"database/sql/driver"

	"github.com/mattn/go-sqlite3"
)

// rollback ends a failed transaction, unless SQLite already did (an
// interrupted statement, a failed COMMIT). A connection that cannot roll
// back is discarded rather than returned to the pool inside a transaction.
func rollback(conn *sql.Conn) {
	conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return driver.ErrBadConn
		}
		if c.AutoCommit() {
			return nil
		}
		if _, err := c.Exec("ROLLBACK", nil); err != nil {
			return driver.ErrBadConn
		}
		return nil
	})
}

// inTx reports whether conn is inside a transaction: SQLite ends one by
// itself after some errors (a full disk, an I/O error), and what follows
// must not run as autocommit statements of their own.
func inTx(conn *sql.Conn) bool {
	in := false
	conn.Raw(func(dc any) error {
		if c, ok := dc.(*sqlite3.SQLiteConn); ok {
			in = !c.AutoCommit()
		}
		return nil
	})
	return in
}
