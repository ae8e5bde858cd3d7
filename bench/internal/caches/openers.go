package caches

import (
	"github.com/livedict/livedict"
	"github.com/livedict/livedict/bench/model"
)

// OpenSession opens the generated Session store.
func OpenSession(opts ...livedict.Option) (Store[model.Session], error) {
	return model.NewSessionStore(opts...)
}

// OpenGrant opens the generated Grant store.
func OpenGrant(opts ...livedict.Option) (Store[model.Grant], error) {
	return model.NewGrantStore(opts...)
}
