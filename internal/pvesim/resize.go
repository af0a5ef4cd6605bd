package pvesim

import (
	"context"
	"maps"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/schema"
)

// resizeContainer grows rootfs or a mount point, as PVE's resize_vm does (API2/LXC.pm): the
// request is checked at once — digest, the disk exists, the size parses, no shrink, not the
// size it already has — and the resize runs as a "resize" task that writes the new size= into
// the config. Backends keep their root filesystems on the host's storage, so no file system
// needs growing.
func (s *Server) resizeContainer(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	disk, size := r.params["disk"], r.params["size"]
	s.mu.Lock()
	conf := maps.Clone(ct.Conf)
	digest := ct.digest()
	err = ct.checkLock()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if want := r.params["digest"]; want != "" && want != digest {
		return nil, pveError("detected modified configuration - file changed by other user? Try again.")
	}
	value, ok := conf[disk]
	if !ok {
		return nil, pveError("disk '%s' does not exist", disk)
	}
	format := rootfsFormat
	if disk != "rootfs" {
		format = createSchema.Property("mp0").FormatProps
	}
	mp, err := schema.ParsePropertyString(format, value)
	if err != nil {
		return nil, pveError("unable to parse %s: %v", disk, err)
	}
	current, _ := schema.ParseSize(mp["size"])
	grow := strings.HasPrefix(size, "+")
	want, ok := schema.ParseSize(strings.TrimPrefix(size, "+"))
	if !ok {
		return nil, pveError("invalid size string")
	}
	if grow {
		want += current
	}
	switch {
	case want < current:
		return nil, pveError("unable to shrink disk size")
	case want == current:
		return nil, pveError("disk is already at specified size")
	}
	return s.lockedTask(r, ct, "resize", false, func(ctx context.Context, t *task) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		mp, err := schema.ParsePropertyString(format, ct.Conf[disk])
		if err != nil {
			return err
		}
		t.logf("Resizing image: %s from %s to %s", mp["volume"], mp["size"], schema.FormatSize(want))
		mp["size"] = schema.FormatSize(want)
		ct.Conf[disk] = schema.PrintPropertyString(format, mp)
		return s.store.saveContainer(ct)
	}), nil
}
