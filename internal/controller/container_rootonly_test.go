package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

// TestRootOnlyFeatureUnderATokenIsTheContainersStall: a template asking for keyctl, on a
// cluster that signs in with an API token (pvesim refuses it as check_ct_modify_config_perm
// does), stalls the container with RootRequired naming features.keyctl; the ProxmoxCluster
// stays Ready, and nothing is created.
func TestRootOnlyFeatureUnderATokenIsTheContainersStall(t *testing.T) {
	f := newPipelineFixture(t, "rootonly")
	f.template.Spec.Features.Keyctl = true
	// The policy allows keyctl: what stops it here is Proxmox's root@pam rule.
	update(t, f.cluster, func(cl *lxcv1.ProxmoxCluster) {
		cl.Spec.Policy.Features = []lxcv1.FeatureName{lxcv1.FeatureNesting, lxcv1.FeatureKeyctl}
	})
	f.createTemplate(t)
	c := f.container("keys")
	create(t, c)
	eventually(t, 30*time.Second, condition(c, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.RootRequiredReason))
	if msg := conditions.GetMessage(c, lxcv1.ReadyCondition); !strings.Contains(msg, "features.keyctl") || !strings.Contains(msg, "root@pam") {
		t.Errorf("Ready says %q, want features.keyctl and root@pam named", msg)
	}
	if err := condition(f.cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, "")(); err != nil {
		t.Errorf("the cluster: %v", err)
	}
	if guests := f.guests(t); len(guests) != 0 {
		t.Errorf("%d containers in Proxmox, want none", len(guests))
	}
	// The template says so before any container meets it: its one cluster signs in with a token.
	if f.cluster.Status.RootLogin {
		t.Error("a cluster signing in with an API token says rootLogin")
	}
	eventually(t, 30*time.Second, condition(f.template, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.RootRequiredReason))
	if msg := conditions.GetMessage(f.template, lxcv1.ReadyCondition); !strings.Contains(msg, "features.keyctl") || !strings.Contains(msg, f.cluster.Name) {
		t.Errorf("the template's Ready says %q, want features.keyctl and the cluster named", msg)
	}
}

// TestBindMountAndDeviceUnderATokenAreTheContainersStall: a template with a bind mount and a
// device the policy allows, on a cluster that signs in with an API token: pvesim refuses the
// create (403), the container stalls with RootRequired naming both fields, nothing is created,
// and the template says RootRequired too.
func TestBindMountAndDeviceUnderATokenAreTheContainersStall(t *testing.T) {
	f := newPipelineFixture(t, "rootonly-bind")
	f.template.Spec.MountPoints = []lxcv1.MountPoint{{Index: 2, Path: "/srv/media", HostPath: "/tank/media"}}
	f.template.Spec.Devices = []lxcv1.Device{{Path: "/dev/null"}}
	update(t, f.cluster, func(cl *lxcv1.ProxmoxCluster) {
		cl.Spec.Policy.HostPaths = []string{"/tank"}
		cl.Spec.Policy.Devices = []string{"/dev/null"}
	})
	f.createTemplate(t)
	c := f.container("media")
	create(t, c)
	eventually(t, 30*time.Second, condition(c, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.RootRequiredReason))
	msg := conditions.GetMessage(c, lxcv1.ReadyCondition)
	for _, field := range []string{"mountPoints[2].hostPath", "devices[0] (/dev/null)", "root@pam"} {
		if !strings.Contains(msg, field) {
			t.Errorf("Ready says %q, want %s named", msg, field)
		}
	}
	if guests := f.guests(t); len(guests) != 0 {
		t.Errorf("%d containers in Proxmox, want none", len(guests))
	}
	eventually(t, 30*time.Second, condition(f.template, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.RootRequiredReason))
}
