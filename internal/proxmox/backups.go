package proxmox

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// BackupOptions are the parameters of a container backup (vzdump).
type BackupOptions struct {
	VMID int
	// Storage receives the archive; empty is Proxmox's default, local.
	Storage string
	// Mode is snapshot (the default), suspend or stop.
	Mode string
	// Compress is 0 (none, the default), gzip, lzo or zstd.
	Compress string
	// Notes is vzdump's notes-template: {{guestname}}, {{vmid}}, {{node}} and {{cluster}} are
	// filled in, \n is a line break.
	Notes string
	// Protected keeps the backup from being deleted or pruned.
	Protected bool
}

// BackupArchive is a backup on a storage.
type BackupArchive struct {
	// Volid is what RestoreContainer and DeleteVolume take, e.g.
	// "local:backup/vzdump-lxc-100-2026_01_02-03_04_05.tar.zst".
	Volid string
	VMID  int
	Size  int64
	Time  time.Time
	// Notes is the first line of the backup's notes.
	Notes     string
	Format    string // tar, tar.zst, tar.gz, …
	Protected bool
}

// RestoreSpec is what a container is restored from and how.
type RestoreSpec struct {
	VMID int
	// Archive is the backup's volid.
	Archive string
	// Storage receives the restored volumes; empty is Proxmox's default, local.
	Storage string
	// Force replaces an existing container of that VMID, which must be stopped.
	Force bool
	// Unique gives the network interfaces new MAC addresses.
	Unique bool
	// Start boots the container at the end of the restore task.
	Start bool
	// Hostname, Description and Tags replace the backed-up ones when set.
	Hostname    string
	Description string
	Tags        []string
	Pool        string
}

// Backup implements Client. Proxmox answers "OK" without a task when the guest is not on
// node; that is ErrNotFound.
func (c *APIClient) Backup(ctx context.Context, node string, opts BackupOptions) (UPID, error) {
	target := containerTarget(node, opts.VMID)
	if opts.VMID < 100 {
		return "", &Error{Kind: ErrBadRequest, Op: "back up container " + target, Message: fmt.Sprintf("vmid %d out of range", opts.VMID)}
	}
	body := map[string]any{"vmid": fmt.Sprint(opts.VMID)}
	for k, v := range map[string]string{"storage": opts.Storage, "mode": opts.Mode, "compress": opts.Compress, "notes-template": opts.Notes} {
		if v != "" {
			body[k] = v
		}
	}
	if opts.Protected {
		body["protected"] = 1
	}
	var answer flexString
	err := c.call(ctx, "back up container", target, createOnce, func(ctx context.Context) error {
		return c.api.Post(ctx, fmt.Sprintf("/nodes/%s/vzdump", url.PathEscape(node)), body, &answer)
	})
	if err != nil {
		return "", err
	}
	if answer == "OK" {
		return "", &Error{Kind: ErrNotFound, Op: "back up container " + target, Message: fmt.Sprintf("CT %d is not on node '%s'", opts.VMID, node)}
	}
	upid := UPID(answer)
	if _, perr := upid.Parse(); perr != nil {
		e := invalid("back up container "+target, perr).(*Error)
		e.StatusCode, e.OutcomeUnknown = http.StatusOK, true
		return "", e
	}
	return upid, nil
}

// Backups implements Client.
func (c *APIClient) Backups(ctx context.Context, node, storage string, vmid int) ([]BackupArchive, error) {
	type entry struct {
		Volid     string   `json:"volid"`
		VMID      flexNum  `json:"vmid"`
		Size      flexNum  `json:"size"`
		CTime     flexNum  `json:"ctime"`
		Notes     string   `json:"notes"`
		Format    string   `json:"format"`
		Protected flexBool `json:"protected"`
	}
	q := url.Values{"content": {"backup"}}
	if vmid > 0 {
		q.Set("vmid", fmt.Sprint(vmid))
	}
	path := fmt.Sprintf("/nodes/%s/storage/%s/content?%s", url.PathEscape(node), url.PathEscape(storage), q.Encode())
	list, err := get[[]entry](ctx, c, "list backups", node+"/"+storage, path)
	if err != nil {
		return nil, err
	}
	out := []BackupArchive{}
	for _, e := range list {
		b := BackupArchive{Volid: e.Volid, VMID: int(e.VMID), Size: int64(e.Size), Notes: e.Notes, Format: e.Format, Protected: bool(e.Protected)}
		if e.CTime > 0 {
			b.Time = time.Unix(int64(e.CTime), 0).UTC()
		}
		out = append(out, b)
	}
	return out, nil
}

// volumeOwner finds the VMID in a volume name (vzdump-lxc-100-…, vm-100-disk-0, 100/…), so
// a lookup lists that guest's volumes only.
var volumeOwner = regexp.MustCompile(`^(?:backup/vzdump-[a-z]+-|(?:base|vm|subvol|basevol)-|)([1-9][0-9]{2,8})[-/]`)

// DeleteVolume implements Client. Proxmox deletes a missing file without complaint (a warning
// in the task log), so the volume is looked up in its storage's content first.
func (c *APIClient) DeleteVolume(ctx context.Context, node, volid string) (UPID, error) {
	storage, name, ok := strings.Cut(volid, ":")
	op := "delete volume " + node + "/" + volid
	if !ok || storage == "" || name == "" {
		return "", &Error{Kind: ErrBadRequest, Op: op, Message: fmt.Sprintf("unable to parse volume ID '%s'", volid)}
	}
	q := url.Values{}
	if m := volumeOwner.FindStringSubmatch(name); m != nil {
		q.Set("vmid", m[1])
	}
	list, err := get[[]struct {
		Volid string `json:"volid"`
	}](ctx, c, "list volumes", node+"/"+storage, fmt.Sprintf("/nodes/%s/storage/%s/content?%s", url.PathEscape(node), url.PathEscape(storage), q.Encode()))
	if err != nil {
		return "", err
	}
	found := false
	for _, v := range list {
		found = found || v.Volid == volid
	}
	if !found {
		return "", &Error{Kind: ErrNotFound, Op: op, Message: fmt.Sprintf("volume '%s' does not exist", volid)}
	}
	var upid UPID
	err = c.call(ctx, "delete volume", node+"/"+volid, repeatable, func(ctx context.Context) error {
		var s flexString
		// The volume id goes in the path as PVE's own clients send it, colon and slashes included.
		path := fmt.Sprintf("/nodes/%s/storage/%s/content/%s", url.PathEscape(node), url.PathEscape(storage), volid)
		if err := c.api.Delete(ctx, path, &s); err != nil {
			return err
		}
		upid = UPID(s)
		return nil
	})
	if err != nil {
		return "", err
	}
	if upid != "" {
		if _, perr := upid.Parse(); perr != nil {
			return "", invalid(op, perr)
		}
	}
	return upid, nil
}

// RestoreContainer implements Client. Like CreateContainer it is never retried once the
// request may have reached Proxmox.
func (c *APIClient) RestoreContainer(ctx context.Context, node string, spec RestoreSpec) (UPID, error) {
	target := containerTarget(node, spec.VMID)
	op := "restore container " + target
	if spec.VMID < 100 || spec.VMID > 999999999 {
		return "", &Error{Kind: ErrBadRequest, Op: op, Message: fmt.Sprintf("vmid %d out of range 100-999999999", spec.VMID)}
	}
	if spec.Archive == "" {
		return "", &Error{Kind: ErrBadRequest, Op: op, Message: "no backup archive"}
	}
	body := map[string]any{"vmid": spec.VMID, "ostemplate": spec.Archive, "restore": 1}
	for k, v := range map[string]string{"storage": spec.Storage, "hostname": spec.Hostname, "description": spec.Description, "pool": spec.Pool} {
		if v != "" {
			body[k] = v
		}
	}
	for k, v := range map[string]bool{"force": spec.Force, "unique": spec.Unique, "start": spec.Start} {
		if v {
			body[k] = 1
		}
	}
	if len(spec.Tags) > 0 {
		tags, err := FormatTags(spec.Tags)
		if err != nil {
			return "", &Error{Kind: ErrBadRequest, Op: op, Message: err.Error()}
		}
		body["tags"] = tags
	}
	return c.startTask(ctx, "restore container", target, createOnce, func(ctx context.Context, upid *flexString) error {
		return c.api.Post(ctx, fmt.Sprintf("/nodes/%s/lxc", url.PathEscape(node)), body, upid)
	})
}
