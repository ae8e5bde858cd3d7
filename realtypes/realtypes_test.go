package realtypes

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"k8s.io/apimachinery/pkg/types"

	"github.com/livedict/livedict"
	_ "github.com/livedict/livedict/backends/redis"
	_ "github.com/livedict/livedict/backends/sqlite"
)

// backends gives, for each backend, a fresh URI for one test.
func backends(t *testing.T) map[string]string {
	return map[string]string{
		"memory": "memory://",
		"sqlite": "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "real.db")),
		"redis":  redisServer(t),
	}
}

// TestRoundTrip stores random values of real third-party types on every
// backend and compares what comes back with go-cmp.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	opts := cmp.Options{
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
		cmp.Comparer(func(a, b decimal.Decimal) bool { return a.Equal(b) }),
	}
	for name, uri := range backends(t) {
		t.Run(name, func(t *testing.T) {
			deployments, err := NewDeploymentStore(livedict.WithURI(uri))
			if err != nil {
				t.Fatal(err)
			}
			defer deployments.Close()
			accounts, err := NewAccountStore(livedict.WithURI(uri))
			if err != nil {
				t.Fatal(err)
			}
			defer accounts.Close()
			r := rand.New(rand.NewPCG(1, uint64(len(name))))
			for i := range 50 {
				var d Deployment
				fill(r, reflect.ValueOf(&d).Elem(), 0)
				key := types.UID("uid-" + strconv.Itoa(i))
				if err := deployments.Set(ctx, key, d); err != nil {
					t.Fatalf("Set(%s): %v", key, err)
				}
				got, ok, err := deployments.Get(ctx, key)
				if err != nil || !ok {
					t.Fatalf("Get(%s) = %v, %v", key, ok, err)
				}
				if diff := cmp.Diff(d, got, opts); diff != "" {
					t.Fatalf("Deployment %d (-stored +read):\n%s", i, diff)
				}

				var a Account
				fill(r, reflect.ValueOf(&a).Elem(), 0)
				if err := accounts.Set(ctx, a.ID, a); err != nil {
					t.Fatalf("Set(%s): %v", a.ID, err)
				}
				back, ok, err := accounts.Get(ctx, a.ID)
				if err != nil || !ok {
					t.Fatalf("Get(%s) = %v, %v", a.ID, ok, err)
				}
				if diff := cmp.Diff(a, back, opts); diff != "" {
					t.Fatalf("Account %d (-stored +read):\n%s", i, diff)
				}
			}
			keys, err := accounts.Keys(ctx)
			if err != nil || len(keys) != 50 {
				t.Fatalf("Keys = %d keys, %v; want 50", len(keys), err)
			}
		})
	}
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	decimalType = reflect.TypeFor[decimal.Decimal]()
	addrType    = reflect.TypeFor[netip.Addr]()
	prefixType  = reflect.TypeFor[netip.Prefix]()
)

// fill sets v to a random value: nil and empty containers and pointers
// included, times in UTC to the nanosecond.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	switch v.Type() {
	case timeType:
		v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()))
		return
	case decimalType:
		v.Set(reflect.ValueOf(decimal.New(r.Int64(), int32(r.IntN(20)-10))))
		return
	case addrType:
		v.Set(reflect.ValueOf(randomAddr(r)))
		return
	case prefixType:
		a := randomAddr(r)
		v.Set(reflect.ValueOf(netip.PrefixFrom(a, r.IntN(a.BitLen()+1))))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(r.Uint64()) >> (64 - v.Type().Bits()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(r.Uint64() >> (64 - v.Type().Bits()))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(r.NormFloat64())
	case reflect.String:
		v.SetString(strconv.FormatUint(r.Uint64(), 36)[:r.IntN(8)])
	case reflect.Pointer:
		if depth > 4 || r.IntN(4) == 0 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(r, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		if depth > 4 || r.IntN(4) == 0 {
			return
		}
		n := r.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fill(r, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			fill(r, v.Index(i), depth+1)
		}
	case reflect.Map:
		if depth > 4 || r.IntN(4) == 0 {
			return
		}
		m := reflect.MakeMap(v.Type())
		for range r.IntN(3) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(r, k, depth+1)
			fill(r, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), depth+1)
			}
		}
	}
}

func randomAddr(r *rand.Rand) netip.Addr {
	if r.IntN(2) == 0 {
		return netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
	}
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return netip.AddrFrom16(b)
}

// TestUUIDKeyIsItsText: a uuid.UUID key is stored as its canonical text.
func TestUUIDKeyIsItsText(t *testing.T) {
	id := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	if got := livedictCodecAccount.KeyString(id); got != id.String() {
		t.Fatalf("KeyString(%v) = %q", id, got)
	}
	back, err := livedictCodecAccount.ParseKey(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseKey = %v, %v", back, err)
	}
}

// redisServer starts a redis-server on a free loopback port for this test
// (or uses LIVEDICT_REDIS_URL). Without redis-server the test skips, except
// under CI, where it fails.
func redisServer(t *testing.T) string {
	if u := os.Getenv("LIVEDICT_REDIS_URL"); u != "" {
		return u + "?prefix=realtypes-" + strconv.Itoa(os.Getpid())
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			return "redis://127.0.0.1:" + port + "/0"
		}
		if time.Now().After(deadline) {
			t.Fatal(errors.Join(errors.New("redis-server did not listen in 10s"), err))
		}
	}
}
