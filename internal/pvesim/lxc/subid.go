package lxc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

var subIDMu sync.Mutex

// ensureSubordinateIDs gives root the id range unprivileged containers map to, as the Proxmox
// packages do at installation. LXC maps ids through newuidmap whenever it is installed, and
// newuidmap accepts only ranges listed in /etc/subuid and /etc/subgid.
func ensureSubordinateIDs(ctx context.Context, log *slog.Logger) error {
	if _, err := exec.LookPath("newuidmap"); err != nil {
		return nil // LXC writes the id map itself
	}
	subIDMu.Lock()
	defer subIDMu.Unlock()
	uidOK, err := hasRange("/etc/subuid", "root", idShift, idCount)
	if err != nil {
		return err
	}
	gidOK, err := hasRange("/etc/subgid", "root", idShift, idCount)
	if err != nil {
		return err
	}
	if uidOK && gidOK {
		return nil
	}
	r := fmt.Sprintf("%d-%d", idShift, idShift+idCount-1)
	if _, err := run(ctx, nil, "usermod", "--add-subuids", r, "--add-subgids", r, "root"); err != nil {
		return fmt.Errorf("grant root the subordinate ids of unprivileged containers: %w", err)
	}
	log.Info("Granted root subordinate ids for unprivileged containers", "range", r)
	return nil
}

// hasRange reports whether file grants user the ids [start, start+count).
func hasRange(file, user string, start, count int) (bool, error) {
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) != 3 || f[0] != user {
			continue
		}
		s, err1 := strconv.Atoi(f[1])
		n, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && s <= start && start+count <= s+n {
			return true, nil
		}
	}
	return false, nil
}
