package sqlite

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// OpenURL opens the backend a sqlite URL names; package livedict uses it
// for WithURI and OpenURI. The forms are
//
//	sqlite:///abs/path/app.db   an absolute path (three slashes)
//	sqlite://app.db             a path relative to the working directory
//	sqlite://data/app.db        (everything after sqlite:// is the path)
//
// Characters that are special in URLs ('?', '#', '%', spaces) are written
// percent-encoded. Query parameters set options:
//
//	durability=normal|full      WithDurability (normal by default)
//	busy_timeout=5s             WithBusyTimeout, a Go duration
//	poll_interval=250ms         WithPollInterval, a Go duration
//	readers=4                   WithReaders
//
// for example sqlite:///var/lib/app/livedict.db?durability=full. Anything
// else is an error wrapping backend.ErrInvalidOption.
func OpenURL(ctx context.Context, u *url.URL) (*Backend, error) {
	open, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return open(ctx)
}

// ParseURL checks a sqlite URL as OpenURL reads it, without touching the
// file, and returns the function that opens it: a bad URL fails where it
// is written (livedict.WithURI), not at the first store.
func ParseURL(u *url.URL) (func(ctx context.Context) (*Backend, error), error) {
	path, opts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (*Backend, error) { return OpenContext(ctx, path, opts...) }, nil
}

func parseURL(u *url.URL) (string, []Option, error) {
	bad := func(format string, args ...any) (string, []Option, error) {
		return "", nil, invalid("OpenURL", "%s: "+format, append([]any{u.Redacted()}, args...)...)
	}
	if u.Scheme != "sqlite" {
		return bad("the scheme is not sqlite")
	}
	if u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return bad("want sqlite:///absolute/path.db or sqlite://relative/path.db")
	}
	path := u.Host + u.Path
	if u.Host == "" && runtime.GOOS == "windows" && len(path) >= 3 && path[0] == '/' && path[2] == ':' {
		path = path[1:] // sqlite:///C:/dir/app.db
	}
	if path == "" || path == "/" || strings.HasSuffix(path, "/") {
		return bad("no file name")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	var opts []Option
	for name, vals := range q {
		if len(vals) != 1 {
			return bad("parameter %s is given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "durability":
			switch strings.ToLower(v) {
			case "normal":
				opts = append(opts, WithDurability(Normal))
			case "full":
				opts = append(opts, WithDurability(Full))
			default:
				return bad("durability=%q: want normal or full", v)
			}
		case "busy_timeout", "poll_interval":
			d, err := time.ParseDuration(v)
			if err != nil {
				return bad("%s=%q: %v", name, v, err)
			}
			if name == "busy_timeout" {
				opts = append(opts, WithBusyTimeout(d))
			} else {
				opts = append(opts, WithPollInterval(d))
			}
		case "readers":
			n, err := strconv.Atoi(v)
			if err != nil {
				return bad("readers=%q: not an integer", v)
			}
			opts = append(opts, WithReaders(n))
		default:
			return bad("unknown parameter %q (known: durability, busy_timeout, poll_interval, readers)", name)
		}
	}
	// Bad values fail here, with the URL in the message, rather than at Open.
	var c config
	for _, o := range opts {
		if err := o(&c); err != nil {
			return "", nil, fmt.Errorf("%w (in %s)", err, u.Redacted())
		}
	}
	return path, opts, nil
}
