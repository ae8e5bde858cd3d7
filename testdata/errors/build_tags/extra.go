//go:build livedict_extra

package x

type Extra struct{ N int }
