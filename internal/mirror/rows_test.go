package mirror

import (
	"testing"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestSplitPin(t *testing.T) {
	for _, tc := range []struct {
		manager       lxcv1.PackageManager
		in            string
		name, version string
	}{
		{lxcv1.PackageManagerApt, "nginx", "nginx", ""},
		{lxcv1.PackageManagerApt, "curl=7.88.1-10+deb12u8", "curl", "7.88.1-10+deb12u8"},
		{lxcv1.PackageManagerApt, "libc6:amd64=2.36", "libc6:amd64", "2.36"},
		{lxcv1.PackageManagerPip, "requests==2.32.3", "requests", "2.32.3"},
		{lxcv1.PackageManagerPip, "requests>=2", "requests", ">=2"},
		{lxcv1.PackageManagerPip, "uvicorn[standard]~=0.30", "uvicorn[standard]", "~=0.30"},
		{lxcv1.PackageManagerNpm, "@scope/tool@1.2.3", "@scope/tool", "1.2.3"},
		{lxcv1.PackageManagerNpm, "@scope/tool", "@scope/tool", ""},
		{lxcv1.PackageManagerNpm, "typescript@^5", "typescript", "^5"},
		{lxcv1.PackageManagerApk, "jq=1.7.1-r0", "jq", "1.7.1-r0"},
		{lxcv1.PackageManagerApk, "jq~1.7", "jq", "1.7"},
		{lxcv1.PackageManagerApk, "jq>=1.7", "jq", "1.7"},
		{lxcv1.PackageManagerDnf, "nginx-1.24.0-1.fc39.x86_64", "nginx-1.24.0-1.fc39.x86_64", ""},
	} {
		name, version := splitPin(tc.manager, tc.in)
		v := ""
		if version != nil {
			v = *version
		}
		if name != tc.name || v != tc.version || (tc.version == "") != (version == nil) {
			t.Errorf("%s %q: got %q %q, want %q %q", tc.manager, tc.in, name, v, tc.name, tc.version)
		}
	}
}

func TestResourceVersionIsNumeric(t *testing.T) {
	c := &lxcv1.LXCContainer{}
	c.ResourceVersion = "123456789012"
	if got := resourceVersion(c); got != 123456789012 {
		t.Fatalf("got %d", got)
	}
}
