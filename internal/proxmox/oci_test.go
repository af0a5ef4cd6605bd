package proxmox

import (
	"errors"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"templatemanager.dev/lxc-template-manager/internal/pvesim/oci/ocitest"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// TestPullOCIImage: an image pulled onto a node's storage is listed as an OS template under
// the file name asked for; a second pull to the same name is ErrAlreadyExists.
func TestPullOCIImage(t *testing.T) {
	reg := ocitest.StartRegistry(t)
	ocitest.Push(t, reg+"/team/app:v1", v1.Config{Entrypoint: []string{"/app"}},
		ocitest.Bytes(ocitest.Layer(t, ocitest.File{Name: "app", Content: "x", Mode: 0o755})))
	sim := pvesimtest.Start(t, pvesimtest.WithTemplateDir(t.TempDir()))
	c := newSimClient(t, sim, nil)
	ctx := testContext(t, time.Minute)

	upid, err := c.PullOCIImage(ctx, "pve1", "local", reg+"/team/app:v1", "app_v1-sha256_0123abcd")
	waitTaskOK(t, ctx, c, upid, err, "pull")
	templates, err := c.OSTemplates(ctx, "pve1", "local")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tm := range templates {
		found = found || (tm.VolID == "local:vztmpl/app_v1-sha256_0123abcd.tar" && tm.Format == "tar")
	}
	if !found {
		t.Fatalf("pulled archive not among the OS templates %+v", templates)
	}
	if _, err := c.PullOCIImage(ctx, "pve1", "local", reg+"/team/app:v1", "app_v1-sha256_0123abcd"); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second pull to the same file: %v, want ErrAlreadyExists", err)
	}
	if _, err := c.PullOCIImage(ctx, "pve1", "local", reg+"/team/app", ""); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("pull without a tag: %v, want ErrBadRequest", err)
	}
}
