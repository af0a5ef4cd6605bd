package pvesim

import (
	"context"
	"io"
)

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

// Archiver writes backups of containers and makes containers from them (vzdump and restore).
// Without it, backups and restores fail.
type Archiver interface {
	// Archive writes the uncompressed tar of a backup to w, as vzdump lays it out: first
	// ./etc/vzdump/pct.conf holding opts.PctConf and an empty ./etc/vzdump/pct.fw, then the
	// container's root filesystem with owners as the container sees them.
	Archive(ctx context.Context, vmid int, opts ArchiveOptions, w io.Writer) error
	// Restore makes the container of spec from the uncompressed tar r of a backup, without
	// starting it. Like pct restore it drops ./etc/vzdump/pct.conf, and pct.fw unless empty,
	// from the restored tree.
	Restore(ctx context.Context, spec ContainerSpec, r io.Reader) error
}

// ArchiveOptions tune a backup archive.
type ArchiveOptions struct {
	// PctConf is the container's config as the backup keeps it.
	PctConf string
	// Freeze keeps a running container frozen while its files are read, so the archive is
	// one moment of it.
	Freeze bool
	// Exclude are shell globs of paths to leave out; one starting with / is anchored at the
	// container's root, others match anywhere (vzdump's exclude-path and stdexcludes).
	Exclude []string
}
