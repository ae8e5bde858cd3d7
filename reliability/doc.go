// Package reliability holds livedict's load, abuse and security tests,
// run against every backend through a generated store (the Session store
// of generated_example). It has no code of its own: see RELIABILITY.md at
// the repository root for the guarantees, the tests that prove them and
// their latest figures.
//
// The default test command runs the short versions. The long versions
// (a 10-minute soak with 1,000,000 keys on each backend) run with:
//
//	LIVEDICT_LONG=1 go test ./reliability -run . -v -timeout 2h
package reliability
