package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/livedict/livedict/backend"
)

// Writes run at most once.
//
// go-redis sends a pipeline again after a read timeout or a dropped
// connection (up to the client's MaxRetries). The first copy may well have
// reached the server and run: a server that stalls longer than the read
// timeout runs it when it resumes, and a connection that drops after the
// request went out loses only the reply. A script that writes is not
// idempotent (a conditional Put finds its own version, a Delete finds the
// key gone, a TryLock finds the key locked by itself), so a second copy
// takes effect twice or reports the wrong result.
//
// So a script that writes goes as a onceCmd, which tells go-redis never to
// resend it (Cmder.NoRetry; a pipeline holding one is not retried as a
// whole, so reads queued with a write in one pipeline are not retried
// either: they fail, which is harmless), whatever the client's MaxRetries.
// When such a command got no reply, its outcome is unknown, and the
// operation reports an error wrapping backend.ErrOutcomeUnknown instead of
// guessing; the store core does not retry it (an Update retries only on
// ErrConflict, which is a reply). An error that does not wrap it means the
// write did not take effect: it was never sent (the server was known to be
// down, or no connection could be dialled), or the server replied with an
// error before the script ran. An error the script raised as it ran (a
// key of the shard that is not of the type the script expects) leaves
// what the script wrote before it in place: that outcome is unknown too.

// onceCmd is a script call that go-redis must send once at most.
type onceCmd struct{ *goredis.Cmd }

// NoRetry keeps go-redis from sending the command, or the pipeline holding
// it, a second time.
func (onceCmd) NoRetry() bool { return true }

// evalOnce queues s on p by EVALSHA as a onceCmd, with tag's index key as
// its key (so a cluster client routes it to the shard's slot) and tag as
// ARGV[1], as Script.EvalSha would.
func evalOnce(ctx context.Context, p goredis.Pipeliner, s *goredis.Script, tag string, args ...any) onceCmd {
	cmdArgs := make([]any, 0, 5+len(args))
	cmdArgs = append(cmdArgs, "evalsha", s.Hash(), 1, tag+":idx", tag)
	cmdArgs = append(cmdArgs, args...)
	c := onceCmd{goredis.NewCmd(ctx, cmdArgs...)}
	c.SetFirstKeyPos(3)
	_ = p.Process(ctx, c)
	return c
}

// notSentError is the error of a command the batcher failed without sending
// it, because the server was known to be unreachable.
type notSentError struct{ err error }

func (e notSentError) Error() string { return e.err.Error() }
func (e notSentError) Unwrap() error { return e.err }

// inFlightError is the error of do when ctx ended after a loop took the
// request: its commands may have been sent.
type inFlightError struct{ err error }

func (e inFlightError) Error() string { return e.err.Error() }
func (e inFlightError) Unwrap() error { return e.err }

// outcomeUnknown reports whether err, the error of a write sent as a
// onceCmd, leaves open whether the write took effect.
func outcomeUnknown(err error) bool {
	if err == nil || errors.Is(err, goredis.Nil) {
		return false
	}
	var inFlight inFlightError
	if errors.As(err, &inFlight) {
		return true
	}
	var notSent notSentError
	var reply goredis.Error
	var op *net.OpError
	switch {
	case errors.As(err, &reply):
		// An error the script raised as it ran: Redis undoes nothing, so
		// what it wrote before stays (in a call of several ops, the ops
		// before the one that failed). Other error replies (NOSCRIPT, OOM,
		// BUSY, MOVED...) come before a script runs.
		return isScriptError(err)
	case errors.As(err, &notSent),
		errors.Is(err, errBackendClosed), errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.ErrPoolTimeout),
		errors.As(err, &op) && op.Op == "dial":
		return false
	}
	// A timeout, a reset or closed connection, ctx ending during the round
	// trip: the request may have reached the server.
	return true
}

// isScriptError reports an error a Lua script raised while it ran, after
// which what it wrote before stays: Redis names the script's place in it
// ("@user_script:12", "user_script:12:"). A write command that Redis
// refuses to a script only as long as it has written nothing (OOM over
// maxmemory, READONLY on a replica, MISCONF after a failed save,
// NOREPLICAS) leaves nothing behind.
func isScriptError(err error) bool {
	msg := err.Error()
	for _, before := range []string{"OOM ", "READONLY ", "MISCONF ", "NOREPLICAS "} {
		if strings.HasPrefix(msg, before) {
			return false
		}
	}
	return strings.Contains(msg, "user_script")
}

// runOnce runs a script that writes, sent at most once. An error after
// which the write may have taken effect wraps backend.ErrOutcomeUnknown.
func (bk *bucket) runOnce(ctx context.Context, s *goredis.Script, tag string, args ...any) (any, error) {
	var cmd onceCmd
	_, err := bk.be.bt.do(ctx, func(p goredis.Pipeliner) []goredis.Cmder {
		cmd = evalOnce(ctx, p, s, tag, args...)
		return []goredis.Cmder{cmd}
	})
	return onceResult(cmd, err)
}

// onceResult is the reply of cmd, a onceCmd the batcher ran (or failed
// with err, for its whole request). An error after which the write may
// have taken effect wraps backend.ErrOutcomeUnknown.
func onceResult(cmd onceCmd, err error) (any, error) {
	if err == nil {
		var r any
		if r, err = cmd.Result(); err == nil {
			return r, nil
		}
	}
	if outcomeUnknown(err) {
		return nil, fmt.Errorf("%w: %w", backend.ErrOutcomeUnknown, err)
	}
	return nil, err
}
