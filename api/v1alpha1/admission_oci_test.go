package v1alpha1_test

import (
	"context"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"templatemanager.dev/lxc-template-manager/internal/testkit"
)

// TestOCIImageAdmission: what the API server refuses of an oci:// osTemplate and of
// spec.application, each naming the field.
func TestOCIImageAdmission(t *testing.T) {
	testkit.SkipUnlessFull(t, testkit.ControlPlane)
	if env == nil {
		t.Fatal("the control plane did not start")
	}
	ctx := context.Background()
	oci := func(ref string) string { return "spec:\n  osTemplate: '" + ref + "'\n" }
	app := oci("oci://127.0.0.1:5000/team/app:v1")
	refused := []struct {
		name, manifest string
		want           []string
	}{
		{"no tag", spec(templateHead, oci("oci://registry.example.com/team/app"), ""),
			[]string{"spec.osTemplate", "must name a lowercase repository and a tag"}},
		{"digest instead of tag", spec(templateHead, oci("oci://registry.example.com/app@sha256:"+
			"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), ""),
			[]string{"spec.osTemplate", "no @sha256 digest"}},
		{"uppercase repository", spec(templateHead, oci("oci://registry.example.com/Team/App:v1"), ""),
			[]string{"spec.osTemplate", "must name a lowercase repository"}},
		{"tag starting with a dot", spec(templateHead, oci("oci://registry.example.com/app:.v1"), ""),
			[]string{"spec.osTemplate", "and a tag"}},
		{"shell in the reference", spec(templateHead, oci("oci://registry.example.com/app:v1;reboot"), ""),
			[]string{"spec.osTemplate"}},
		{"application without an OCI image", spec(templateHead, goodTemplate, "  application: {}\n"),
			[]string{"spec", "application needs an OCI image"}},
		{"application with scripts", spec(templateHead, app, "  application: {}\n  scripts:\n  - {name: s, content: 'true'}\n"),
			[]string{"spec", "application cannot have scripts"}},
		{"env name", spec(templateHead, app, "  application:\n    env:\n    - {name: 1BAD, value: x}\n"),
			[]string{"spec.application.env[0].name", "should match"}},
		{"env value with a newline", spec(templateHead, app, "  application:\n    env:\n    - {name: A, value: \"x\\ny\"}\n"),
			[]string{"spec.application.env[0].value", "control characters"}},
		{"duplicate env", spec(templateHead, app, "  application:\n    env:\n    - {name: A, value: x}\n    - {name: A, value: y}\n"),
			[]string{"spec.application.env[1]", "Duplicate value"}},
		{"empty entrypoint", spec(templateHead, app, "  application: {entrypoint: ''}\n"),
			[]string{"spec.application.entrypoint", "at least 1 chars long"}},
		{"entrypoint with a newline", spec(templateHead, app, "  application: {entrypoint: \"/app\\n--x\"}\n"),
			[]string{"spec.application.entrypoint", "control characters"}},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) { expectRefused(t, ctx, c.manifest, c.want) })
	}
	for _, m := range []string{
		spec(templateHead, oci("oci://127.0.0.1:5000/lxctm/system:bookworm"), ""),
		spec(templateHead, oci("oci://docker.io/library/nginx:1.27-alpine"), ""),
		spec(templateHead, oci("oci://ghcr.io/org/sub_team/app-name:v1.2.3_rc1"), ""),
		spec(templateHead, app, "  application:\n    entrypoint: /app --serve\n    env:\n    - {name: PATH, value: /usr/bin:/bin}\n    - {name: GREETING, value: \"hello\\tworld\"}\n"),
	} {
		if err := env.Client.Create(ctx, decode(t, m), client.DryRunAll); err != nil {
			t.Errorf("rejected: %v\n%s", err, m)
		}
	}
}
