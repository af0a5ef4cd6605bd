// Package shard splits the objects of one Kubernetes cluster between several managers, as Flux
// shards its controllers: each manager is started with a label selector
// (--watch-label-selector) and reconciles only the objects it selects, under a leader-election
// lease of its own. Every manager still sees every object — quotas, static address claims and
// usage counts span the shards — but only the selected ones are acted on: no Proxmox call, no
// status write and no finalizer work happen for an object of another shard.
package shard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// Flag is the manager's flag that sets the selector.
const Flag = "watch-label-selector"

// Selector picks the objects one manager reconciles. The zero Selector picks every object: a
// manager that is not sharded.
type Selector struct {
	sel labels.Selector
}

// Parse reads a label selector in the syntax of kubectl's -l, such as
// "sharding.lxc.templatemanager.dev/key=shard1" or "!sharding.lxc.templatemanager.dev/key".
// An empty text selects everything.
func Parse(text string) (Selector, error) {
	if strings.TrimSpace(text) == "" {
		return Selector{}, nil
	}
	sel, err := labels.Parse(text)
	if err != nil {
		return Selector{}, fmt.Errorf("--%s %q: %w", Flag, text, err)
	}
	if sel.Empty() {
		return Selector{}, nil
	}
	return Selector{sel: sel}, nil
}

// Sharded reports whether the selector leaves any object out.
func (s Selector) Sharded() bool { return s.sel != nil }

// String is the selector in its canonical form; empty for every object.
func (s Selector) String() string {
	if s.sel == nil {
		return ""
	}
	return s.sel.String()
}

// Owns reports whether the shard reconciles obj, by obj's own labels.
func (s Selector) Owns(obj metav1.Object) bool {
	return s.sel == nil || s.sel.Matches(labels.Set(obj.GetLabels()))
}

// OwnsFor reports whether the shard reconciles obj, which acts on the LXCContainer named
// container in obj's namespace (a snapshot, backup or restore): the container's labels decide
// while it exists, so that a container's objects follow it from shard to shard without labels
// of their own; obj's own labels decide once it is gone (a backup outlives its container).
func (s Selector) OwnsFor(ctx context.Context, r client.Reader, obj client.Object, container string) (bool, error) {
	if s.sel == nil {
		return true, nil
	}
	c := &lxcv1.LXCContainer{}
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: container}, c)
	switch {
	case err == nil:
		return s.Owns(c), nil
	case apierrors.IsNotFound(err):
		return s.Owns(obj), nil
	default:
		return false, err
	}
}

// Predicate passes the events of the objects the shard owns. An update passes when the object
// now belongs to the shard, so that a shard takes over a relabelled object at once; the shard
// it left drops it.
func (s Selector) Predicate() predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool { return s.Owns(o) })
}

// ID is a short, stable name of the selector, for names that must differ between shards (the
// leader-election lease); empty for every object. Selectors that differ only in the order of
// their requirements share it.
func (s Selector) ID() string {
	if s.sel == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(s.sel.String()))
	return hex.EncodeToString(sum[:])[:10]
}

// LeaderElectionID is the lease a manager of the shard holds: base for every object, base with
// the selector's ID otherwise, so that two shards never share a lease.
func (s Selector) LeaderElectionID(base string) string {
	if s.sel == nil {
		return base
	}
	return s.ID() + "." + base
}

// FieldOwner is the field manager a manager of the shard writes as, so that an object's
// managedFields tell which shard wrote it.
func (s Selector) FieldOwner(base string) string {
	if s.sel == nil {
		return base
	}
	return base + "-" + s.ID()
}

// Reader lists through r only the objects the shard owns, so that what a shard counts (its
// lxctm_containers) adds up with the other shards' to the fleet.
func (s Selector) Reader(r client.Reader) client.Reader {
	if s.sel == nil {
		return r
	}
	return ownedReader{Reader: r, sel: s.sel}
}

type ownedReader struct {
	client.Reader
	sel labels.Selector
}

func (o ownedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return o.Reader.List(ctx, list, append(opts, client.MatchingLabelsSelector{Selector: o.sel})...)
}
