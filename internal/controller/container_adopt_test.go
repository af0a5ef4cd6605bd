package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

func TestOwnedBy(t *testing.T) {
	obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web", UID: "1234"}}
	for desc, want := range map[string]bool{
		"lxctm-owner: team/web uid=1234":                         true,
		"notes\nlxctm-owner: team/web uid=1234\nmore":            true,
		"lxctm-owner: team/web uid=9999":                         false, // an earlier object of the same name
		"lxctm-owner: team/web uid=12345":                        false,
		"someone wrote lxctm-owner: team/web uid=1234 in a note": false,
		"": false,
	} {
		if got := ownedBy(desc, obj); got != want {
			t.Errorf("ownedBy(%q) = %v, want %v", desc, got, want)
		}
	}
}

func TestAdoptable(t *testing.T) {
	obj := &lxcv1.LXCContainer{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web", UID: "new",
		Annotations: map[string]string{lxcv1.AdoptAnnotation: "true"}}}
	obj.Spec.VMID = ptr(int32(120))
	for desc, want := range map[string]bool{
		"":           true, // made by hand: no marker
		"notes only": true,
		"lxctm-owner: team/web uid=old\nrestored":                      true,  // an earlier incarnation of this object
		"lxctm-owner: team/other uid=1":                                false, // another LXCContainer's
		"lxctm-owner: prod/web uid=old":                                false,
		"x\nlxctm-owner: team/web uid=old\nlxctm-owner: team/db uid=2": false,
	} {
		if got := adoptable(desc, obj); got != want {
			t.Errorf("adoptable(%q) = %v, want %v", desc, got, want)
		}
	}
	if adoptable("", &lxcv1.LXCContainer{ObjectMeta: obj.ObjectMeta}) {
		t.Error("adoptable without spec.vmid")
	}
	// Without the annotation only an earlier incarnation's container is taken over.
	plain := obj.DeepCopy()
	plain.Annotations = nil
	for desc, want := range map[string]bool{
		"":                              false,
		"lxctm-owner: team/web uid=old": true,
		"lxctm-owner: team/db uid=old":  false,
	} {
		if got := adoptable(desc, plain); got != want {
			t.Errorf("adoptable(%q) without the annotation = %v, want %v", desc, got, want)
		}
	}
}
