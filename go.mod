module github.com/livedict/livedict

go 1.24

require (
	github.com/google/go-cmp v0.7.0
	go.uber.org/goleak v1.3.0
)
