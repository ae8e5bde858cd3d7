package redis

import (
	"context"
	"fmt"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict/backend"
)

// go-redis logs through one logger for the whole process
// (goredis.SetLogger), to stderr by default. This package replaces it, once,
// when it first makes or is given a client, with slogPrinter: each line
// goes, at Warn, to the logger of the store whose operation caused it, which
// the store puts in the operation's context (backend.WithLogger), or to
// slog.Default() when go-redis logs outside any operation (a background
// reconnect). So several stores with different loggers each get their own
// client's lines, and none reaches stderr unless slog.Default() writes
// there. A program that calls goredis.SetLogger itself after that wins.
var installLogger = sync.OnceFunc(func() { goredis.SetLogger(slogPrinter{}) })

type slogPrinter struct{}

func (slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	backend.LoggerFrom(ctx).Warn("livedict/redis: go-redis: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}
