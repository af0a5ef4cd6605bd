package pvesim

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// lockedTask starts a task whose worker does as PVE's do: it takes the config lock (waiting up
// to the lock timeout), checks the config lock unless skiplock, and only then runs op.
func (s *Server) lockedTask(r *request, ct *container, typ string, skiplock bool, op func(ctx context.Context, t *task) error) string {
	return s.tasks.start(ct.Node, typ, strconv.Itoa(ct.VMID), r.user, func(ctx context.Context, t *task) error {
		if err := ct.lock(ctx, s.opts.LockTimeout); err != nil {
			return err
		}
		defer ct.unlock()
		if !skiplock {
			s.mu.Lock()
			err := ct.checkLock()
			s.mu.Unlock()
			if err != nil {
				return err
			}
		}
		if err := t.fault(); err != nil {
			return err
		}
		return op(ctx, t)
	})
}

// powerTask runs a power operation, which honours skiplock.
func (s *Server) powerTask(r *request, ct *container, typ string, op func(ctx context.Context, t *task) error) string {
	return s.lockedTask(r, ct, typ, r.bool("skiplock"), op)
}

func (s *Server) startContainer(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	if s.running(r.Context(), ct.VMID) {
		return nil, pveError("CT %d already running", ct.VMID)
	}
	return s.powerTask(r, ct, "vzstart", func(ctx context.Context, t *task) error {
		return s.startLocked(ctx, t, ct)
	}), nil
}

// startLocked boots a container whose config lock the caller holds.
func (s *Server) startLocked(ctx context.Context, t *task, ct *container) error {
	s.mu.Lock()
	template := ct.Conf["template"] == "1"
	var err error
	var unapplied []string
	if len(ct.Pending) > 0 && !template {
		// vm_start applies the pending changes first (pve-container src/PVE/LXC.pm). An entry
		// whose apply fails stays pending, and the start goes on (vmconfig_apply_pending).
		held := map[string]string{}
		for _, opt := range slices.Sorted(maps.Keys(ct.Pending)) {
			if opt == pendingDeleteKey {
				continue
			}
			if msg, fail := s.faults.applyFailure(opt); fail {
				held[opt] = ct.Pending[opt]
				delete(ct.Pending, opt)
				unapplied = append(unapplied, fmt.Sprintf("unable to apply pending change %s : %s", opt, msg))
			}
		}
		applyPending(ct.Conf, ct.Pending)
		ct.Pending = nil
		if len(held) > 0 {
			ct.Pending = held
		}
		err = s.store.saveContainer(ct)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	for _, msg := range unapplied {
		// warn in vm_start: on a start the task counts it; a reboot applies the pending
		// changes in the poststop hook, whose warnings go to the journal.
		if t.rec.Type == "vzstart" {
			t.warn("%s", msg)
		}
		s.log.Info("Pending change not applied at start", "vmid", ct.VMID, "warning", msg)
	}
	if template {
		return fmt.Errorf("you can't start a CT if it's a template")
	}
	spec, err := s.spec(ct)
	if err != nil {
		return err
	}
	if err := s.backend.Reconfigure(ctx, spec); err != nil {
		return fmt.Errorf("unable to apply pending changes - %v", err)
	}
	if err := checkBridges(spec.Networks); err != nil {
		return err
	}
	if err := s.backend.Start(ctx, spec); err != nil {
		return fmt.Errorf("startup for container '%d' failed: %v", ct.VMID, err)
	}
	s.mu.Lock()
	ct.StartedAt = time.Now()
	err = s.store.saveContainer(ct)
	s.mu.Unlock()
	s.log.Info("Container started", "vmid", ct.VMID)
	return err
}

func (s *Server) stopped(ct *container) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ct.StartedAt = time.Time{}
	return s.store.saveContainer(ct)
}

func (s *Server) stopContainer(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	if !s.running(r.Context(), ct.VMID) {
		return nil, pveError("CT %d not running", ct.VMID)
	}
	return s.powerTask(r, ct, "vzstop", func(ctx context.Context, t *task) error {
		if err := s.backend.Stop(ctx, ct.VMID); err != nil {
			return err
		}
		s.log.Info("Container stopped", "vmid", ct.VMID)
		return s.stopped(ct)
	}), nil
}

// shutdownLocked asks the container to power off and, with force, kills it when it does not.
func (s *Server) shutdownLocked(ctx context.Context, t *task, ct *container, timeout time.Duration, force bool) error {
	if err := s.backend.Shutdown(ctx, ct.VMID, timeout); err != nil {
		if !force {
			t.logf("shutdown failed: %v", err)
			return fmt.Errorf("container did not stop")
		}
		t.logf("shutdown timed out, stopping container")
		if err := s.backend.Stop(ctx, ct.VMID); err != nil {
			return err
		}
	}
	s.log.Info("Container shut down", "vmid", ct.VMID)
	return s.stopped(ct)
}

func timeoutParam(r *request, def int) time.Duration {
	if v, err := strconv.Atoi(r.params["timeout"]); err == nil {
		return time.Duration(v) * time.Second
	}
	return time.Duration(def) * time.Second
}

func (s *Server) shutdownContainer(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	if !s.running(r.Context(), ct.VMID) {
		return nil, pveError("CT %d not running", ct.VMID)
	}
	timeout, force := timeoutParam(r, 60), r.bool("forceStop")
	return s.powerTask(r, ct, "vzshutdown", func(ctx context.Context, t *task) error {
		return s.shutdownLocked(ctx, t, ct, timeout, force)
	}), nil
}

func (s *Server) rebootContainer(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	if !s.running(r.Context(), ct.VMID) {
		// Sic: PVE says VM here.
		return nil, pveError("VM %d not running", ct.VMID)
	}
	timeout := timeoutParam(r, 60)
	// vm_reboot (pve-container src/PVE/LXC.pm) holds the config flock but checks no config lock
	// of its own: a container that stopped meanwhile is left stopped and the task succeeds, and a
	// config lock (a backup's) is met by the pre-start hook after the shutdown, so the start
	// fails and the container stays stopped.
	return s.lockedTask(r, ct, "vzreboot", true, func(ctx context.Context, t *task) error {
		if !s.running(ctx, ct.VMID) {
			return nil
		}
		if err := s.shutdownLocked(ctx, t, ct, timeout, true); err != nil {
			return err
		}
		s.mu.Lock()
		err := ct.checkLock()
		s.mu.Unlock()
		if err != nil {
			s.log.Info("Pre-start hook refused the start", "vmid", ct.VMID, "error", err)
			return fmt.Errorf("command 'systemctl start pve-container@%d' failed: exit code 1", ct.VMID)
		}
		return s.startLocked(ctx, t, ct)
	}), nil
}

func (s *Server) interfaces(r *request) (any, error) {
	ct, err := s.target(r)
	if err != nil {
		return nil, err
	}
	if !s.running(r.Context(), ct.VMID) {
		return nil, nil
	}
	ifaces, err := s.backend.Interfaces(r.Context(), ct.VMID)
	if err != nil {
		return nil, pveError("%v", err)
	}
	out := []map[string]any{}
	for _, in := range ifaces {
		e := map[string]any{"name": in.Name, "hwaddr": in.HWAddr, "hardware-address": in.HWAddr}
		addrs := []map[string]any{}
		for _, p := range in.Addresses {
			family := "inet"
			if p.Addr().Is6() {
				family = "inet6"
			}
			// Like PVE, the last address of a family wins the legacy inet/inet6 key.
			e[family] = prefixString(p)
			addrs = append(addrs, map[string]any{"ip-address": p.Addr().String(), "ip-address-type": family, "prefix": p.Bits()})
		}
		e["ip-addresses"] = addrs
		out = append(out, e)
	}
	return out, nil
}

func prefixString(p netip.Prefix) string { return p.Addr().String() + "/" + strconv.Itoa(p.Bits()) }
