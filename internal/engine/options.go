package engine

import (
	"github.com/livedict/livedict"
	"github.com/livedict/livedict/internal/impl"
)

// The option types are defined in package livedict over the configs of
// package impl; this file resolves them.

func resolveSet(opts []livedict.SetOption) impl.SetConfig {
	c := new(impl.SetConfig) // apart from write, so that without options nothing escapes
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	return *c
}

func resolveHook(opts []livedict.HookOption) impl.HookConfig {
	c := impl.HookConfig{Timeout: impl.DefaultHookTimeout}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

func resolveLock(opts []livedict.LockOption) impl.LockConfig {
	c := impl.LockConfig{Lease: impl.DefaultLease}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// ForKey is the hook option that limits a hook to one key of type K.
func ForKey[K comparable](key K) livedict.HookOption {
	return func(c *impl.HookConfig) { c.Scoped, c.Key = true, key }
}
