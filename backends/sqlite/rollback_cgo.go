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
