package lxc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// An unprivileged container's root (uid 100000 on the host) mounts the container's root
// filesystem itself, so it must be able to search every directory above it. State directories
// often sit below private ones (/root, a test's temporary directory); instead of opening those
// to everyone, the mapped root gets a POSIX ACL entry allowing it to search them.

// grantSearch lets uid search every directory from dir up to the root.
func grantSearch(dir string, uid int) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for {
		if err := grantSearchOne(dir, uid); err != nil {
			return fmt.Errorf("let unprivileged containers search %s: %w", dir, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

func grantSearchOne(dir string, uid int) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err
	}
	if st.Mode&0o001 != 0 || int(st.Uid) == uid {
		return nil
	}
	if _, err := unix.Getxattr(dir, "system.posix_acl_access", nil); err == nil {
		// The directory has an ACL already; adding to it needs care this helper does not
		// take. Searching is what others get elsewhere anyway.
		return os.Chmod(dir, os.FileMode(st.Mode&0o777|0o001))
	}
	err := unix.Setxattr(dir, "system.posix_acl_access", aclWithSearch(st.Mode, uid), 0)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return os.Chmod(dir, os.FileMode(st.Mode&0o777|0o001))
	}
	return err
}

// aclWithSearch encodes the access ACL equal to mode plus search permission for uid, in the
// kernel's xattr format (version 2; entries of tag, permissions and id, sorted by tag).
func aclWithSearch(mode uint32, uid int) []byte {
	const (
		userObj  = 0x01
		user     = 0x02
		groupObj = 0x04
		mask     = 0x10
		other    = 0x20
		noID     = 0xffffffff
		search   = 0x1
	)
	entries := []struct {
		tag  uint16
		perm uint16
		id   uint32
	}{
		{userObj, uint16(mode >> 6 & 7), noID},
		{user, search, uint32(uid)},
		{groupObj, uint16(mode >> 3 & 7), noID},
		{mask, uint16(mode>>3&7) | search, noID},
		{other, uint16(mode & 7), noID},
	}
	buf := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range entries {
		buf = binary.LittleEndian.AppendUint16(buf, e.tag)
		buf = binary.LittleEndian.AppendUint16(buf, e.perm)
		buf = binary.LittleEndian.AppendUint32(buf, e.id)
	}
	return buf
}
