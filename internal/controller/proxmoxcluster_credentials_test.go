package controller

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
	"templatemanager.dev/lxc-template-manager/internal/outcome"
	"templatemanager.dev/lxc-template-manager/internal/pvesim/pvesimtest"
)

// inNamespace moves a cluster's credentials (and its CA when ca is set) into namespace ns.
func inNamespace(ns string, ca bool) func(*lxcv1.ProxmoxCluster, *corev1.Secret) {
	return func(c *lxcv1.ProxmoxCluster, s *corev1.Secret) {
		s.Namespace = ns
		c.Spec.CredentialsRef.Namespace = ns
		if ca {
			c.Spec.TLS.CASecretRef.Namespace = ns
		}
	}
}

func TestProxmoxClusterRefusesCredentialsFromAnotherNamespace(t *testing.T) {
	sim := pvesimtest.Start(t)
	tenant := newNamespace(t, nil)
	cluster := clusterFor(t, sim, "foreign-credentials", inNamespace(tenant, false))

	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.CredentialsNamespaceNotAllowedReason))
	eventually(t, 5*time.Second, condition(cluster, lxcv1.StalledCondition, metav1.ConditionTrue, lxcv1.CredentialsNamespaceNotAllowedReason))
	msg := readyMessageOf(cluster)
	for _, want := range []string{"spec.credentialsRef", tenant, controllerNamespace, "--" + CredentialsNamespacesFlag} {
		if !strings.Contains(msg, want) {
			t.Errorf("Ready message does not name %q: %q", want, msg)
		}
	}
	if reqs := sim.Counters().Total(""); reqs != 0 {
		t.Errorf("the simulator got %d requests: the Secret was sent to the endpoint", reqs)
	}
}

func TestProxmoxClusterRefusesACAFromAnotherNamespace(t *testing.T) {
	sim := pvesimtest.Start(t)
	tenant := newNamespace(t, nil)
	cluster := clusterFor(t, sim, "foreign-ca", func(c *lxcv1.ProxmoxCluster, _ *corev1.Secret) {
		c.Spec.TLS.CASecretRef.Namespace = tenant
	})
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionFalse, lxcv1.CredentialsNamespaceNotAllowedReason))
	if msg := readyMessageOf(cluster); !strings.Contains(msg, "spec.tls.caSecretRef") {
		t.Errorf("Ready message does not name the CA reference: %q", msg)
	}
}

func TestProxmoxClusterTakesCredentialsFromAnAllowedNamespace(t *testing.T) {
	sim := pvesimtest.Start(t)
	cluster := clusterFor(t, sim, "allowed-credentials", inNamespace(sharedCredentialsNamespace, false))
	eventually(t, 20*time.Second, condition(cluster, lxcv1.ReadyCondition, metav1.ConditionTrue, lxcv1.SucceededReason))
}

func TestCheckSecretNamespace(t *testing.T) {
	for _, tc := range []struct {
		allowed []string
		ns      string
		ok      bool
	}{
		{nil, "lxctm-system", true},
		{nil, "team-a", false},
		{[]string{"team-a"}, "team-a", true},
		{[]string{"team-a"}, "team-b", false},
		{[]string{AnyNamespace}, "team-b", true},
	} {
		c := &ClusterConnector{Namespace: "lxctm-system", CredentialsNamespaces: tc.allowed}
		err := c.checkSecretNamespace("spec.credentialsRef", tc.ns)
		if (err == nil) != tc.ok {
			t.Errorf("allowed %v, namespace %s: %v", tc.allowed, tc.ns, err)
		}
		if err != nil && outcome.Of(err).Reason != lxcv1.CredentialsNamespaceNotAllowedReason {
			t.Errorf("reason %q", outcome.Of(err).Reason)
		}
	}
}
