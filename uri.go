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

func opener(uri string) (func(context.Context) (backend.Backend, error), error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: WithURI(%q): %v", ErrInvalidOption, uri, err)
	}
	switch u.Scheme {
	case "memory":
		if u.Host != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("%w: WithURI(%q): a memory URI takes nothing after memory://", ErrInvalidOption, uri)
		}
		return func(context.Context) (backend.Backend, error) { return memory.New(), nil }, nil
	case "":
		return nil, fmt.Errorf("%w: WithURI(%q): no scheme; use memory://, sqlite:///path.db or redis://host:port/db", ErrInvalidOption, uri)
	default:
		return nil, fmt.Errorf("%w: WithURI(%q): unknown scheme %q; use memory://, sqlite:///path.db or redis://host:port/db", ErrInvalidOption, uri, u.Scheme)
	}
}
