//go:build cgo

package livedict

import "github.com/livedict/livedict/backends/sqlite"

// The sqlite scheme needs cgo (github.com/mattn/go-sqlite3):
//
//	sqlite:///abs/path/app.db     an absolute path
//	sqlite://app.db               a path relative to the working directory
//	sqlite:///abs/app.db?durability=full&busy_timeout=10s&poll_interval=100ms&readers=8
//
// See sqlite.OpenURL for the parameters.
func init() { schemes["sqlite"] = scheme(sqlite.ParseURL) }
