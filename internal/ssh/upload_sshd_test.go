package ssh

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// owner returns the uid and gid of a local file.
func ownerOf(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

func TestUploadCreatesFileWithModeAndOwner(t *testing.T) {
	_, c := connect(t)
	ctx := testContext(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "etc", "config-manager", "config.env")
	content := []byte("API_KEY='do-not-log'\nOTHER=1\n")
	if err := c.Upload(ctx, File{Path: target, Content: content, Mode: 0o640, Owner: "nobody:nogroup"}); err != nil {
		t.Fatalf("upload: %v", err)
	}
	got, err := os.ReadFile(target)
	if err != nil || string(got) != string(content) {
		t.Fatalf("content = %q, %v", got, err)
	}
	info, _ := os.Stat(target)
	if info.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", info.Mode())
	}
	if uid, gid := ownerOf(t, target); uid != 65534 || gid != 65534 {
		t.Errorf("owner = %d:%d, want nobody:nogroup (65534:65534)", uid, gid)
	}
	entries, _ := os.ReadDir(filepath.Dir(target))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temporary left)", len(entries))
	}
}

func TestUploadNumericOwnerAndSpecialBits(t *testing.T) {
	_, c := connect(t)
	target := filepath.Join(t.TempDir(), "bin", "tool")
	if err := c.Upload(testContext(t), File{Path: target, Content: []byte("#!/bin/sh\n"), Mode: 0o4750, Owner: "1234:2345"}); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(target)
	if info.Mode()&fs.ModeSetuid == 0 || info.Mode().Perm() != 0o750 {
		t.Errorf("mode = %v, want setuid and 0750 (set after chown, which clears it)", info.Mode())
	}
	if uid, gid := ownerOf(t, target); uid != 1234 || gid != 2345 {
		t.Errorf("owner = %d:%d, want 1234:2345", uid, gid)
	}
}

func TestUploadReplacesAtomically(t *testing.T) {
	_, c := connect(t)
	ctx := testContext(t)
	target := filepath.Join(t.TempDir(), "app.conf")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A reader holding the old file keeps the old content: the new one arrives by rename.
	held, err := os.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := c.Upload(ctx, File{Path: target, Content: []byte("new content")}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(target)
	if string(got) != "new content" {
		t.Fatalf("content = %q", got)
	}
	buf := make([]byte, 10)
	n, _ := held.Read(buf)
	if string(buf[:n]) != "old" {
		t.Errorf("the old file was rewritten in place: the held handle reads %q", buf[:n])
	}
	info, _ := os.Stat(target)
	if info.Mode().Perm() != 0o644 {
		t.Errorf("default mode = %v, want 0644", info.Mode())
	}
	if uid, gid := ownerOf(t, target); uid != 0 || gid != 0 {
		t.Errorf("owner = %d:%d, want root", uid, gid)
	}
	// An empty file is a file too.
	if err := c.Upload(ctx, File{Path: target, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); len(got) != 0 {
		t.Errorf("content = %q, want empty", got)
	}
}

// TestUploadRemovesTemporariesLeftByUploadsCutShort: an upload whose connection was cut, or
// whose process was killed, leaves its temporary file; a later upload of the same target
// removes it once it is older than any upload takes, and nothing else: not a fresh temporary,
// which an upload of the same target running at the same time may still be writing.
func TestUploadRemovesTemporariesLeftByUploadsCutShort(t *testing.T) {
	_, c := connect(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "config.env")
	left, err := tempName(target)
	if err != nil {
		t.Fatal(err)
	}
	live, err := tempName(target)
	if err != nil {
		t.Fatal(err)
	}
	others := []string{
		filepath.Base(live),                 // another upload's, under way
		".config.env.lxctm-not-hex-at-all",  // not a temporary of ours
		".other.env.lxctm-0123456789abcdef", // another target's
		"config.env.bak",
	}
	for _, name := range append([]string{filepath.Base(left)}, others...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("API_KEY='half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for _, name := range []string{filepath.Base(left), ".other.env.lxctm-0123456789abcdef"} {
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Upload(testContext(t), File{Path: target, Content: []byte("API_KEY='whole'\n"), Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := append([]string{"config.env"}, others...)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("the directory holds %q, want %q", names, want)
	}
}

func TestUploadUnknownOwnerFailsCleanly(t *testing.T) {
	_, c := connect(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "f")
	err := c.Upload(testContext(t), File{Path: target, Content: []byte("secret-content"), Owner: "no-such-user-xyz"})
	if err == nil {
		t.Fatal("upload with an unknown owner succeeded")
	}
	if !strings.Contains(err.Error(), "no-such-user-xyz") || strings.Contains(err.Error(), "secret-content") {
		t.Errorf("error %q should name the owner and never the content", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %d entries behind, want none", len(entries))
	}
}

func TestUploadRejectsBadInput(t *testing.T) {
	_, c := connect(t)
	ctx := testContext(t)
	for _, f := range []File{
		{Path: "relative/file"},
		{Path: "/tmp/../etc/passwd"},
		{Path: "/tmp/x", Owner: "root;id"},
		{Path: "/tmp/x", Owner: "$(id)"},
	} {
		if err := c.Upload(ctx, f); err == nil {
			t.Errorf("upload of %+v accepted", f)
		}
	}
}

func TestReadFile(t *testing.T) {
	_, c := connect(t)
	ctx := testContext(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "credentials.env")
	if err := os.WriteFile(p, []byte("USER=app\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadFile(ctx, p)
	if err != nil || string(got) != "USER=app\n" {
		t.Fatalf("ReadFile = %q, %v", got, err)
	}
	if _, err := c.ReadFile(ctx, filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxReadFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadFile(ctx, big); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("oversized file: err = %v", err)
	}
}

func TestFileOperationsRecoverAfterCancel(t *testing.T) {
	_, c := connect(t)
	p := filepath.Join(t.TempDir(), "f")
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if err := c.Upload(ctx, File{Path: p, Content: []byte("x")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("upload with a cancelled context: %v", err)
	}
	// Cancel while an SFTP client is live: the next call must start a fresh one.
	if _, err := c.ReadFile(testContext(t), "/etc/hostname"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(testContext(t))
	go cancel()
	_ = c.Upload(ctx, File{Path: p, Content: make([]byte, 8<<20)})
	if err := c.Upload(testContext(t), File{Path: p, Content: []byte("after")}); err != nil {
		t.Fatalf("upload after a cancelled one: %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "after" {
		t.Fatalf("content = %q", got)
	}
}
