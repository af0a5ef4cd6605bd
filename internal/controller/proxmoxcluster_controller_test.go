package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

const debianTemplate = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"

func TestProxmoxClusterBecomesReadyWithNodesAndTemplates(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithNodes("pve1", "pve2"))
	cluster := clusterFor(t, sim, "ready")

	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, lxcv1.SucceededReason))
	st := cluster.Status
	if st.Version == "" {
		t.Error("status.version is empty")
	}
	var names []string
	for _, n := range st.Nodes {
		names = append(names, n.Name)
		if n.Status != "online" || n.MaxMemory <= 0 || n.FreeMemory <= 0 {
			t.Errorf("node %+v lacks status or memory", n)
		}
	}
	if !slices.Equal(names, []string{"pve1", "pve2"}) {
		t.Errorf("status.nodes = %v, want pve1, pve2", names)
	}
	for _, node := range []string{"pve1", "pve2"} {
		if !slices.Contains(st.Templates, lxcv1.ClusterTemplate{Node: node, Storage: "local", VolID: debianTemplate}) {
			t.Errorf("status.templates lacks %s on %s: %v", debianTemplate, node, st.Templates)
		}
	}
	if st.LastSyncTime == nil || st.ObservedGeneration != cluster.Generation {
		t.Errorf("lastSyncTime %v, observedGeneration %d (generation %d)", st.LastSyncTime, st.ObservedGeneration, cluster.Generation)
	}
	for _, c := range []string{lxcv1.ReconcilingCondition, lxcv1.StalledCondition} {
		if err := condition(cluster, c, metav1.ConditionTrue, "")(); err == nil {
			t.Errorf("a Ready cluster carries %s", c)
		}
	}
}

func TestProxmoxClusterWithWrongTokenIsNotReady(t *testing.T) {
	sim := pvesimtest.Start(t)
	cluster := clusterFor(t, sim, "wrong-token", func(_ *lxcv1.ProxmoxCluster, s *corev1.Secret) {
		s.Data[TokenSecretKey] = []byte("00000000-0000-0000-0000-000000000000")
	})
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.AuthenticationFailedReason))
	eventually(t, 5*time.Second, condition(cluster, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.AuthenticationFailedReason))
	msg := readyMessageOf(cluster)
	if !strings.Contains(msg, "authentication") {
		t.Errorf("Ready message does not name authentication: %q", msg)
	}
	if strings.Contains(msg, "00000000-0000") || strings.Contains(msg, sim.Secret) {
		t.Errorf("Ready message leaks the token: %q", msg)
	}
}

func TestProxmoxClusterUnreachable(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testkit.ReservePort(t)) // nothing listens there
	sim := pvesimtest.Start(t)
	cluster := clusterFor(t, sim, "unreachable", func(c *lxcv1.ProxmoxCluster, _ *corev1.Secret) {
		c.Spec.Endpoint = fmt.Sprintf("https://%s/api2/json", addr)
	})
	eventually(t, 30*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.UnreachableReason))
	if msg := readyMessageOf(cluster); !strings.Contains(msg, addr) && !strings.Contains(msg, "unreachable") {
		t.Errorf("Ready message names neither the endpoint nor the cause: %q", msg)
	}
	if err := condition(cluster, lxcv1.ReconcilingCondition, metav1.ConditionTrue, lxcv1.UnreachableReason)(); err != nil {
		t.Errorf("an unreachable cluster should be retried (Reconciling): %v", err)
	}
	// It is retried on the back-off schedule: the third attempt waits four times the first.
	eventually(t, time.Minute, func() error {
		got := &lxcv1.ProxmoxCluster{}
		if err := k8s.Get(testCtx, client.ObjectKeyFromObject(cluster), got); err != nil {
			return err
		}
		r := got.Status.Retry
		if r == nil || r.Attempts < 3 {
			return fmt.Errorf("status.retry = %+v, want 3 attempts", r)
		}
		if wait := r.NextAttemptTime.Sub(r.LastFailureTime.Time); wait < 4*outcome.RetryBase {
			return fmt.Errorf("attempt %d waits %s for the next", r.Attempts, wait)
		}
		if msg := readyMessageOf(got); !strings.Contains(msg, fmt.Sprintf("attempt %d, next in", r.Attempts)) {
			return fmt.Errorf("Ready message %q does not count the attempts", msg)
		}
		return nil
	})
}

func TestProxmoxClusterWithUnknownCA(t *testing.T) {
	sim := pvesimtest.Start(t)
	cluster := clusterFor(t, sim, "unknown-ca", func(c *lxcv1.ProxmoxCluster, _ *corev1.Secret) {
		c.Spec.TLS = nil // the system roots do not know the simulator's CA
	})
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.TLSFailedReason))
}

func TestProxmoxClusterWaitsForItsCredentials(t *testing.T) {
	sim := pvesimtest.Start(t)
	cluster := clusterFor(t, sim, "late-secret", func(c *lxcv1.ProxmoxCluster, _ *corev1.Secret) {
		c.Spec.CredentialsRef.Name = "late-secret-token-not-yet"
	})
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.CredentialsNotFoundReason))
	if msg := readyMessageOf(cluster); !strings.Contains(msg, "late-secret-token-not-yet") {
		t.Errorf("Ready message does not name the missing Secret: %q", msg)
	}
	late := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: controllerNamespace, Name: "late-secret-token-not-yet"},
		Data:       map[string][]byte{TokenIDKey: []byte(sim.TokenID), TokenSecretKey: []byte(sim.Secret)},
	}
	if err := k8s.Create(testCtx, late); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(testCtx, late) })
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, lxcv1.SucceededReason))
}

func TestProxmoxClusterWithUserAndPassword(t *testing.T) {
	sim := pvesimtest.Start(t, pvesimtest.WithUser("root@pam", "hunter2-but-longer"))
	cluster := clusterFor(t, sim, "ticket", func(_ *lxcv1.ProxmoxCluster, s *corev1.Secret) {
		s.Data = map[string][]byte{UsernameKey: []byte("root@pam"), PasswordKey: []byte("hunter2-but-longer")}
	})
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, lxcv1.SucceededReason))
	if !cluster.Status.RootLogin {
		t.Error("a cluster signing in as root@pam with a password does not say rootLogin")
	}
}

func readyMessageOf(c *lxcv1.ProxmoxCluster) string {
	for _, cond := range c.Status.Conditions {
		if cond.Type == lxcv1.ReadyCondition {
			return cond.Message
		}
	}
	return ""
}

// TestClusterInUseStaysUntilItsContainersAreGone: deleting a ProxmoxCluster before its
// containers keeps it (Ready says why) until they are deleted, and they are still destroyed in
// Proxmox; then the cluster goes.
func TestClusterInUseStaysUntilItsContainersAreGone(t *testing.T) {
	f := newPipelineFixture(t, "in-use")
	f.createTemplate(t)
	c, vmid, node := f.started(t, f.container("user"))

	if err := k8s.Delete(testCtx, f.cluster); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, condition(f.cluster, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.InUseReason))
	if msg := readyMessageOf(f.cluster); !strings.Contains(msg, "in use by 1 containers") {
		t.Errorf("Ready message %q does not say the cluster is in use", msg)
	}
	if f.cluster.DeletionTimestamp.IsZero() {
		t.Fatal("the cluster is not being deleted")
	}

	f.deleteAndExpectDestroyed(t, c, node, vmid)
	eventually(t, 20*time.Second, gone(f.cluster))
}
