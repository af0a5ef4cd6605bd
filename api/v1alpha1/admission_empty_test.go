package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestEmptyValuesAreRejected gives every required string, one-of content source, name and path
// an empty value: none of them may be accepted as if it were a value.
func TestEmptyValuesAreRejected(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	ctx := context.Background()
	const endpoint = "  endpoint: https://pve.example.com:8006/api2/json\n"
	cases := []struct {
		manifest string
		field    string // the path the API server must name
	}{
		// LXCTemplate
		{templateHead + "spec:\n  osTemplate: ''\n", "spec.osTemplate"},
		{spec(templateHead, goodTemplate, "  tags: ['']\n"), "spec.tags[0]"},
		{spec(templateHead, goodTemplate, "  storage: ''\n"), "spec.storage"},
		{spec(templateHead, goodTemplate, "  network: {bridge: ''}\n"), "spec.network.bridge"},
		{spec(templateHead, goodTemplate, "  network: {ipv4: ''}\n"), "spec.network.ipv4"},
		{spec(templateHead, goodTemplate, "  network: {ipv4: 10.0.0.5/24, gateway: ''}\n"), "spec.network.gateway"},
		{spec(templateHead, goodTemplate, "  network: {nameservers: ['']}\n"), "spec.network.nameservers[0]"},
		{spec(templateHead, goodTemplate, "  packages:\n  - {manager: apt, names: ['']}\n"), "spec.packages[0].names[0]"},
		{spec(templateHead, goodTemplate, "  packageBucketRefs:\n  - {name: ''}\n"), "spec.packageBucketRefs[0].name"},
		{spec(templateHead, goodTemplate, "  scripts:\n  - {name: '', content: 'true'}\n"), "spec.scripts[0].name"},
		{spec(templateHead, goodTemplate, "  scripts:\n  - {name: s, content: ''}\n"), "spec.scripts[0].content"},
		{spec(templateHead, goodTemplate, "  scripts:\n  - {name: s, configMapRef: {name: '', key: k}}\n"), "spec.scripts[0].configMapRef.name"},
		{spec(templateHead, goodTemplate, "  scripts:\n  - {name: s, configMapRef: {name: cm, key: ''}}\n"), "spec.scripts[0].configMapRef.key"},
		{spec(templateHead, goodTemplate, "  scripts:\n  - {name: s, content: 'true', env: [{name: '', value: x}]}\n"), "spec.scripts[0].env[0].name"},
		{spec(templateHead, goodTemplate, "  files:\n  - {path: '', content: hi}\n"), "spec.files[0].path"},
		{spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/motd, content: ''}\n"), "spec.files[0].content"},
		{spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/motd, secretRef: {name: '', key: k}}\n"), "spec.files[0].secretRef.name"},
		{spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/motd, secretRef: {name: s, key: ''}}\n"), "spec.files[0].secretRef.key"},
		{spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/motd, configMapRef: {name: '', key: k}}\n"), "spec.files[0].configMapRef.name"},
		{spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/motd, configMapRef: {name: cm, key: ''}}\n"), "spec.files[0].configMapRef.key"},
		{spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/motd, content: hi, mode: ''}\n"), "spec.files[0].mode"},
		{spec(templateHead, goodTemplate, "  files:\n  - {path: /etc/motd, content: hi, owner: ''}\n"), "spec.files[0].owner"},
		{spec(templateHead, goodTemplate, "  config:\n    env: [{name: '', value: x}]\n"), "spec.config.env[0].name"},
		{spec(templateHead, goodTemplate, "  services:\n  - {name: '', port: 80}\n"), "spec.services[0].name"},
		// PackageBucket
		{bucketHead + "spec:\n  manager: apt\n  packages: ['']\n", "spec.packages[0]"},
		{bucketHead + "spec:\n  manager: ''\n  packages: [curl]\n", "spec.manager"},
		// LXCContainer
		{containerHead + "spec:\n  clusterRef: {name: ''}\n  templateRef: {name: web}\n", "spec.clusterRef.name"},
		{containerHead + "spec:\n  clusterRef: {name: pve}\n  templateRef: {name: ''}\n", "spec.templateRef.name"},
		{spec(containerHead, goodRefs, "  node: ''\n"), "spec.node"},
		{spec(containerHead, goodRefs, "  hostname: ''\n"), "spec.hostname"},
		{spec(containerHead, goodRefs, "  storage: ''\n"), "spec.storage"},
		{spec(containerHead, goodRefs, "  network: {bridge: ''}\n"), "spec.network.bridge"},
		{spec(containerHead, goodRefs, "  rootPasswordSecretRef: {name: '', key: password}\n"), "spec.rootPasswordSecretRef.name"},
		{spec(containerHead, goodRefs, "  rootPasswordSecretRef: {name: pw, key: ''}\n"), "spec.rootPasswordSecretRef.key"},
		{spec(containerHead, goodRefs, "  sshPublicKeys: ['']\n"), "spec.sshPublicKeys[0]"},
		{spec(containerHead, goodRefs, "  packages: {excludeBuckets: ['']}\n"), "spec.packages.excludeBuckets[0]"},
		{spec(containerHead, goodRefs, "  packages:\n    extra: [{manager: pip, names: ['']}]\n"), "spec.packages.extra[0].names[0]"},
		{spec(containerHead, goodRefs, "  scripts: {skip: ['']}\n"), "spec.scripts.skip[0]"},
		{spec(containerHead, goodRefs, "  config:\n    env: [{name: '', value: x}]\n"), "spec.config.env[0].name"},
		{spec(containerHead, goodRefs, "  config:\n    envFrom: [{prefix: '', secretRef: {name: s}}]\n"), "spec.config.envFrom[0].prefix"},
		{spec(containerHead, goodRefs, "  config:\n    envFrom: [{secretRef: {name: ''}}]\n"), "spec.config.envFrom[0].secretRef.name"},
		{spec(containerHead, goodRefs, "  config:\n    envFrom: [{configMapRef: {name: ''}}]\n"), "spec.config.envFrom[0].configMapRef.name"},
		// ProxmoxCluster
		{clusterHead + goodCluster + "  endpoint: ''\n", "spec.endpoint"},
		{clusterHead + "spec:\n  credentialsRef: {namespace: '', name: pve}\n" + endpoint, "spec.credentialsRef.namespace"},
		{clusterHead + "spec:\n  credentialsRef: {namespace: lxc-template-manager-system, name: ''}\n" + endpoint, "spec.credentialsRef.name"},
		{clusterHead + goodCluster + endpoint + "  tls: {caSecretRef: {namespace: '', name: ca}}\n", "spec.tls.caSecretRef.namespace"},
		{clusterHead + goodCluster + endpoint + "  tls: {caSecretRef: {namespace: a, name: ''}}\n", "spec.tls.caSecretRef.name"},
		{clusterHead + goodCluster + endpoint + "  tls: {caSecretRef: {namespace: a, name: ca, key: ''}}\n", "spec.tls.caSecretRef.key"},
		{clusterHead + goodCluster + endpoint + "  syncInterval: ''\n", "spec.syncInterval"},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			err := env.Client.Create(ctx, decode(t, tc.manifest), client.DryRunAll)
			if err == nil {
				t.Fatalf("an empty %s was accepted:\n%s", tc.field, tc.manifest)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("rejected for another reason than validation: %v", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error does not name %s:\n%v", tc.field, err)
			}
		})
	}
}
