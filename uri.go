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
	open, err := opener(uri)
	return func(c *runtime.Config) error {
		if err != nil {
			return err
		}
		return runtime.WithOpener(open)(c)
	}
}

// OpenURI opens the backend a URI names, for sharing one backend between
// several stores with WithBackend. The caller closes it.
func OpenURI(ctx context.Context, uri string) (Backend, error) {
	open, err := opener(uri)
	if err != nil {
		return nil, err
	}
	return open(ctx)
}

// schemes maps a URI scheme to the function that opens its backend. The
// SQLite and Redis backends add themselves from their own files of this
// package, so a program that imports only livedict and its generated stores
// can still name them by URI.
var schemes = map[string]func(ctx context.Context, u *url.URL) (backend.Backend, error){
	"memory": openMemory,
}

func openMemory(_ context.Context, u *url.URL) (backend.Backend, error) {
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("%w: WithURI(%q): a memory URI takes nothing after memory://", ErrInvalidOption, u.Redacted())
	}
	return memory.New(), nil
}

func opener(uri string) (func(context.Context) (backend.Backend, error), error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: WithURI: %v", ErrInvalidOption, err)
	}
	open, ok := schemes[u.Scheme]
	if !ok {
		what := "no scheme"
		if u.Scheme != "" {
			what = fmt.Sprintf("unknown scheme %q", u.Scheme)
		}
		return nil, fmt.Errorf("%w: WithURI(%q): %s; use memory://, sqlite:///path.db or redis://host:port/db", ErrInvalidOption, u.Redacted(), what)
	}
	if u.Scheme == "memory" {
		// Check now, so a bad memory URI fails at the option, not at New.
		if _, err := open(context.Background(), u); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context) (backend.Backend, error) { return open(ctx, u) }, nil
}
