package pvesim

import "context"

// Backends may implement these interfaces for what Backend does not cover; the simulator
// falls back to a plain behaviour when they do not.

// BuiltinTemplates is implemented by backends that create containers from templates without a
// tarball on disk (the fake backend); these are listed in the local storage too.
type BuiltinTemplates interface {
	BuiltinTemplates() []string
}

// Cloner copies a container's root filesystem into a new container described by spec.
// Without it, a clone is created afresh from the source's OS template.
type Cloner interface {
	Clone(ctx context.Context, source int, spec ContainerSpec) error
}

// Snapshotter keeps root filesystem snapshots. Without it, snapshots and rollbacks cover the
// configuration only.
type Snapshotter interface {
	Snapshot(ctx context.Context, vmid int, name string) error
	Rollback(ctx context.Context, vmid int, name string) error
	DeleteSnapshot(ctx context.Context, vmid int, name string) error
}
