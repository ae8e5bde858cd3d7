package livedict

import (
	"context"
	"fmt"
	"net/url"

	"github.com/livedict/livedict/backend"
	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/runtime"
)

// WithURI selects the backend by URI; the store opens it and closes it on
// Close:
//
//	memory://                  a private in-process store (the default)
//	sqlite:///path/to/file.db  one durable file, shared by processes
//	redis://host:6379/0        a Redis shared by processes and machines
func WithURI(uri string) Option {
	open, err := parseURI(uri)
	return func(c *runtime.Config) error {
		if err != nil {
			return err
		}
		return runtime.WithOpener(func(ctx context.Context) (backend.Backend, error) { return open(ctx) })(c)
	}
}

// OpenURI opens the backend a URI names, for sharing one backend between
// several stores with WithBackend. The caller closes it.
func OpenURI(ctx context.Context, uri string) (Backend, error) {
	open, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	return open(ctx)
}

// opener opens a backend once its URI was checked.
type opener func(ctx context.Context) (backend.Backend, error)

// schemes maps a URI scheme to the function that checks a URI of it and
// returns its opener. The SQLite and Redis backends add themselves from
// their own files of this package, so a program that imports only livedict
// and its generated stores can still name them by URI.
var schemes = map[string]func(u *url.URL) (opener, error){
	"memory": parseMemory,
}

// scheme adapts a backend package's URL parser to the schemes table. A
// failed open returns a nil Backend, never a nil *B inside a non-nil
// interface.
func scheme[B backend.Backend](parse func(*url.URL) (func(context.Context) (B, error), error)) func(*url.URL) (opener, error) {
	return func(u *url.URL) (opener, error) {
		open, err := parse(u)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (backend.Backend, error) {
			b, err := open(ctx)
			if err != nil {
				return nil, err
			}
			return b, nil
		}, nil
	}
}

func parseMemory(u *url.URL) (opener, error) {
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: WithURI(%q): a memory URI takes nothing after memory://", ErrInvalidOption, u.Redacted())
	}
	return func(context.Context) (backend.Backend, error) { return memory.New(), nil }, nil
}

// parseURI checks uri and returns the opener of its backend. Every error
// wraps ErrInvalidOption and quotes the URI without its password.
func parseURI(uri string) (opener, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: WithURI: %v", ErrInvalidOption, err)
	}
	parse, ok := schemes[u.Scheme]
	if !ok {
		what := "no scheme"
		if u.Scheme != "" {
			what = fmt.Sprintf("unknown scheme %q", u.Scheme)
		}
		return nil, fmt.Errorf("%w: WithURI(%q): %s; use memory://, sqlite:///path.db or redis://host:port/db", ErrInvalidOption, u.Redacted(), what)
	}
	return parse(u)
}
