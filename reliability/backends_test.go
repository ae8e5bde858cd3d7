package reliability

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livedict/livedict"
	_ "github.com/livedict/livedict/backends/redis"  // the redis:// scheme
	_ "github.com/livedict/livedict/backends/sqlite" // the sqlite:// scheme
	"github.com/livedict/livedict/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// long reports whether the long versions run (LIVEDICT_LONG=1).
func long() bool { return os.Getenv("LIVEDICT_LONG") != "" }

// target is a backend the tests run on: uri gives a fresh place for one
// test (a new file, a new key prefix), cleaned up after it.
type target struct {
	name string
	uri  func(t *testing.T) string
	// shortKeys is the key count of the short soak: the durable backends
	// write every key through a disk or a socket.
	shortKeys int
}

var prefixes atomic.Int64

func targets() []target {
	return []target{
		{"memory", func(*testing.T) string { return "memory://" }, 100_000},
		{"sqlite", func(t *testing.T) string {
			return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "livedict.db"))
		}, 5_000},
		{"redis", func(t *testing.T) string {
			url, _ := redistest.Server(t)
			return url + "?prefix=rel" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(prefixes.Add(1), 10)
		}, 5_000},
	}
}

// envDuration reads a duration from the environment, or def.
func envDuration(t testing.TB, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q is not a positive duration", name, v)
	}
	return d
}

// storeOpts are the options every test store starts with. The tests
// provoke thousands of hook failures on purpose; they count them through
// Stats and error handlers rather than read them in the log.
func storeOpts(uri string, more ...livedict.Option) []livedict.Option {
	return append([]livedict.Option{livedict.WithURI(uri), livedict.WithLogger(slog.New(slog.DiscardHandler))}, more...)
}
