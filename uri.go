package livedict

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/livedict/livedict/backends/memory"
	"github.com/livedict/livedict/internal/impl"
)

// WithURI selects the backend by URI; the store opens it and closes it on
// Close. The URI is checked here, so a bad one fails at New, before
// anything is opened:
//
//	memory://                  a private in-process store (the default)
//	sqlite:///path/to/file.db  one durable file, shared by processes
//	redis://host:6379/0        a Redis shared by processes and machines
//
// memory:// is built in; the other schemes come with their backend's
// package, imported for its side effect:
//
//	import _ "github.com/livedict/livedict/backends/sqlite"
//	import _ "github.com/livedict/livedict/backends/redis"
func WithURI(uri string) Option {
	open, err := parseURI(uri)
	return func(c *impl.Config) error {
		if err != nil {
			return err
		}
		if err := c.ChooseBackend("WithURI"); err != nil {
			return err
		}
		c.Backend, c.Open = nil, open
		return nil
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

// Opener opens a backend whose URI was checked.
type Opener func(ctx context.Context) (Backend, error)

// RegisterScheme makes WithURI and OpenURI accept URIs of scheme. Backend
// packages call it from init, as database/sql drivers call sql.Register.
// parse checks a URI without opening anything (errors wrap
// ErrInvalidOption) and returns the function that opens it. Registering a
// scheme twice panics.
func RegisterScheme(scheme string, parse func(u *url.URL) (Opener, error)) {
	schemesMu.Lock()
	defer schemesMu.Unlock()
	if parse == nil {
		panic("livedict: RegisterScheme(" + scheme + ") with a nil parser")
	}
	if _, dup := schemes[scheme]; dup {
		panic("livedict: RegisterScheme called twice for scheme " + scheme)
	}
	schemes[scheme] = parse
}

var (
	schemesMu sync.RWMutex
	schemes   = map[string]func(u *url.URL) (Opener, error){"memory": parseMemory}
)

// knownSchemes are the schemes of this module's backends, for the error of
// a program that did not import the one it names.
var knownSchemes = map[string]string{
	"sqlite": "github.com/livedict/livedict/backends/sqlite",
	"redis":  "github.com/livedict/livedict/backends/redis",
	"rediss": "github.com/livedict/livedict/backends/redis",
}

func parseMemory(u *url.URL) (Opener, error) {
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: WithURI(%q): a memory URI takes nothing after memory://", ErrInvalidOption, u.Redacted())
	}
	return func(context.Context) (Backend, error) { return memory.New(), nil }, nil
}

// parseURI checks uri and returns the opener of its backend. Every error
// wraps ErrInvalidOption and quotes the URI without its password.
func parseURI(uri string) (Opener, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: WithURI: %v", ErrInvalidOption, err)
	}
	schemesMu.RLock()
	parse, ok := schemes[u.Scheme]
	schemesMu.RUnlock()
	if ok {
		return parse(u)
	}
	if pkg, known := knownSchemes[u.Scheme]; known {
		return nil, fmt.Errorf("%w: WithURI(%q): the %s scheme needs its backend: add import _ %q to the program", ErrInvalidOption, u.Redacted(), u.Scheme, pkg)
	}
	what := "no scheme"
	if u.Scheme != "" {
		what = fmt.Sprintf("unknown scheme %q", u.Scheme)
	}
	return nil, fmt.Errorf("%w: WithURI(%q): %s; registered: %s", ErrInvalidOption, u.Redacted(), what, registered())
}

// registered lists the schemes WithURI accepts in this program.
func registered() string {
	schemesMu.RLock()
	defer schemesMu.RUnlock()
	names := make([]string, 0, len(schemes))
	for s := range schemes {
		names = append(names, s+"://")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
