package proxmox

import (
	"errors"
	"strings"
	"testing"
	"time"

	"templatemanager.dev/lxc-template-manager/internal/pvesim"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestSimulatorBackupRestore backs a container up, lists the backup, restores it after the
// container was destroyed, and deletes it once it is no longer protected.
func TestSimulatorBackupRestore(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"))
	c := newSimClient(t, sim, nil)
	ctx := testContext(t, time.Minute)
	spec := createSpec(100)
	upid, err := c.CreateContainer(ctx, "pve1", spec)
	waitTaskOK(t, ctx, c, upid, err, "create")
	sim.Guest(100).WriteFile("/srv/state.txt", []byte("kept\n"), 0o644)

	upid, err = c.Backup(ctx, "pve1", BackupOptions{VMID: 100, Storage: "local", Mode: "snapshot", Compress: "zstd",
		Notes: "{{guestname}} ({{vmid}})", Protected: true})
	waitTaskOK(t, ctx, c, upid, err, "backup")
	if p, _ := upid.Parse(); p.Type != "vzdump" || p.ID != "100" {
		t.Errorf("backup task: %+v", p)
	}
	list, err := c.Backups(ctx, "pve1", "local", 100)
	if err != nil || len(list) != 1 {
		t.Fatalf("backups: %+v, %v", list, err)
	}
	b := list[0]
	if !strings.HasPrefix(b.Volid, "local:backup/vzdump-lxc-100-") || !strings.HasSuffix(b.Volid, ".tar.zst") || b.VMID != 100 ||
		b.Format != "tar.zst" || b.Notes != "web-1 (100)" || !b.Protected || b.Size == 0 || time.Since(b.Time) > time.Minute {
		t.Fatalf("backup: %+v", b)
	}
	if all, err := c.Backups(ctx, "pve1", "local", 0); err != nil || len(all) != 1 {
		t.Errorf("all backups: %+v, %v", all, err)
	}
	if none, err := c.Backups(ctx, "pve2", "local", 100); err != nil || len(none) != 0 {
		t.Errorf("backups of another node's local storage: %+v, %v", none, err)
	}
	if _, err := c.Backup(ctx, "pve2", BackupOptions{VMID: 100, Storage: "local"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("backup on a node without the container: %v", err)
	}

	upid, err = c.DeleteContainer(ctx, "pve1", 100, DeleteOptions{})
	waitTaskOK(t, ctx, c, upid, err, "destroy")
	upid, err = c.RestoreContainer(ctx, "pve1", RestoreSpec{VMID: 100, Archive: b.Volid, Storage: "local-lvm", Start: true, Tags: []string{"restored"}})
	waitTaskOK(t, ctx, c, upid, err, "restore")
	cfg, err := c.ContainerConfig(ctx, "pve1", 100)
	if err != nil || cfg.Hostname != "web-1" || cfg.RootFS.Volume != "local-lvm:vm-100-disk-0" || len(cfg.Tags) != 1 || cfg.Tags[0] != "restored" {
		t.Fatalf("restored config: %+v, %v", cfg, err)
	}
	if data, ok := sim.Guest(100).ReadFile("/srv/state.txt"); !ok || string(data) != "kept\n" {
		t.Errorf("restored guest file: %q %v", data, ok)
	}
	// The VMID is taken now; a running container is not overwritten even with force.
	if _, err := c.RestoreContainer(ctx, "pve1", RestoreSpec{VMID: 100, Archive: b.Volid}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("restore onto an existing VMID: %v", err)
	}
	if _, err := c.RestoreContainer(ctx, "pve1", RestoreSpec{VMID: 100, Archive: b.Volid, Force: true}); err == nil ||
		!strings.Contains(err.Error(), "can't overwrite running container") {
		t.Errorf("forced restore onto a running container: %v", err)
	}

	// A protected backup is refused in the task; a missing volume is not found at all.
	upid, err = c.DeleteVolume(ctx, "pve1", b.Volid)
	if err != nil || upid == "" {
		t.Fatalf("delete protected: %q, %v", upid, err)
	}
	if st := testkit.WaitTask(t, ctx, c, upid); !errors.Is(st.Err(), ErrConflict) {
		t.Errorf("deleting a protected backup: %+v", st)
	}
	resetCounters(sim)
	missing := "local:backup/vzdump-lxc-100-2020_01_01-00_00_00.tar"
	if _, err := c.DeleteVolume(ctx, "pve1", missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting a missing backup: %v", err)
	}
	simCount(t, sim, "DELETE /nodes/{node}/storage/{storage}/content/{volume}", 0)

	upid, err = c.Backup(ctx, "pve1", BackupOptions{VMID: 100, Storage: "local"})
	waitTaskOK(t, ctx, c, upid, err, "unprotected backup")
	list, err = c.Backups(ctx, "pve1", "local", 100)
	if err != nil || len(list) != 2 {
		t.Fatalf("backups: %+v, %v", list, err)
	}
	for _, b := range list {
		if b.Protected {
			continue
		}
		upid, err := c.DeleteVolume(ctx, "pve1", b.Volid)
		waitTaskOK(t, ctx, c, upid, err, "delete unprotected")
	}
	if list, err := c.Backups(ctx, "pve1", "local", 100); err != nil || len(list) != 1 || !list[0].Protected {
		t.Errorf("after delete: %+v, %v", list, err)
	}
}

// TestSimulatorBackupNotRetried: a backup or a restore whose request may have reached Proxmox
// is not sent again; the error says the outcome is unknown.
func TestSimulatorBackupNotRetried(t *testing.T) {
	sim := pvesimtest.Start(t)
	c := newSimClient(t, sim, nil)
	ctx := testContext(t, time.Minute)
	upid, err := c.CreateContainer(ctx, "pve1", createSpec(100))
	waitTaskOK(t, ctx, c, upid, err, "create")

	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "POST /nodes/{node}/vzdump", Count: 1})
	if _, err := c.Backup(ctx, "pve1", BackupOptions{VMID: 100}); !errors.Is(err, ErrUnreachable) || !IsOutcomeUnknown(err) {
		t.Errorf("backup with a dropped connection: %v", err)
	}
	simCount(t, sim, "POST /nodes/{node}/vzdump", 1)

	resetCounters(sim)
	sim.Fault(t, pvesim.FaultRule{Kind: pvesim.FaultDrop, Endpoint: "POST /nodes/{node}/lxc", Count: 1})
	_, err = c.RestoreContainer(ctx, "pve1", RestoreSpec{VMID: 101, Archive: "local:backup/vzdump-lxc-100-2020_01_01-00_00_00.tar"})
	if !errors.Is(err, ErrUnreachable) || !IsOutcomeUnknown(err) {
		t.Errorf("restore with a dropped connection: %v", err)
	}
	simCount(t, sim, "POST /nodes/{node}/lxc", 1)

	// A backup to a storage that holds none fails in its task, as vzdump checks it there.
	upid, err = c.Backup(ctx, "pve1", BackupOptions{VMID: 100, Storage: "local-lvm"})
	if err != nil {
		t.Fatal(err)
	}
	if st := testkit.WaitTask(t, ctx, c, upid); st.Succeeded() || !strings.Contains(st.ExitStatus, "wrong content type") {
		t.Errorf("backup to local-lvm: %+v", st)
	}
	if _, err := c.Backup(ctx, "pve1", BackupOptions{VMID: 100, Compress: "xz"}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("backup with a bad compress: %v", err)
	}
}
