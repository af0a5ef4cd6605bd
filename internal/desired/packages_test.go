package desired

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestSystemPackagesInstallBeforePipAndNpm(t *testing.T) {
	bucket := func(name string, m lxcv1.PackageManager, pkgs ...lxcv1.PackageName) *lxcv1.PackageBucket {
		return &lxcv1.PackageBucket{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: lxcv1.PackageBucketSpec{Manager: m, Packages: pkgs}}
	}
	// A pip bucket listed before the apt bucket that brings pip.
	got := ResolvePackages([]*lxcv1.PackageBucket{
		bucket("tools", lxcv1.PackageManagerNpm, "typescript"),
		bucket("python", lxcv1.PackageManagerPip, "requests"),
		bucket("base", lxcv1.PackageManagerApt, "python3-pip", "nodejs"),
		bucket("more", lxcv1.PackageManagerApt, "curl"),
	}, []lxcv1.PackageList{{Manager: lxcv1.PackageManagerPip, Names: []lxcv1.PackageName{"flask", "requests"}}})
	var order []lxcv1.PackageManager
	for _, r := range got {
		order = append(order, r.Manager)
	}
	if want := []lxcv1.PackageManager{lxcv1.PackageManagerApt, lxcv1.PackageManagerPip, lxcv1.PackageManagerNpm}; !slices.Equal(order, want) {
		t.Fatalf("installation order %v, want %v", order, want)
	}
	if !slices.Equal(got[0].Names, []string{"python3-pip", "nodejs", "curl"}) || !slices.Equal(got[1].Names, []string{"requests", "flask"}) {
		t.Errorf("packages within a manager lost their order: %+v", got)
	}
}
