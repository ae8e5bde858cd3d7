// Package realtypes annotates structs that hold and embed the types real
// programs store: Kubernetes object metadata, go-github users, UUIDs,
// decimals, database/sql nulls and net/netip addresses. Its tests generate
// their stores, vet them, and round-trip random values on memory, SQLite
// and Redis. It is a module of its own, so these libraries never become
// dependencies of livedict's users.
package realtypes

//go:generate go tool livedictgen

import (
	"database/sql"
	"net/netip"

	"github.com/google/go-github/v75/github"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Deployment embeds Kubernetes' TypeMeta and ObjectMeta, as every
// Kubernetes object does.
//
//livedict:store key=types.UID
type Deployment struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	Replicas int32
	Selector *metav1.LabelSelector
	Owner    types.UID
}

// Account holds a go-github user, a UUID, a decimal, nulls and addresses.
//
//livedict:store key=uuid.UUID
type Account struct {
	ID      uuid.UUID
	User    *github.User
	Balance decimal.Decimal
	Nick    sql.NullString
	Since   sql.NullTime
	Alias   sql.Null[string]
	Addr    netip.Addr
	Prefix  netip.Prefix
	Seen    map[string]github.Timestamp
	Tag     Labeled
}

// Labeled embeds uuid.UUID (which has MarshalBinary) and adds a field: it
// is stored field by field, so Label is kept on every backend.
type Labeled struct {
	uuid.UUID
	Label string
}
