package wizard

import (
	"net/url"
	"strings"
	"testing"
)

func TestFieldOfMapsAPIPathsOntoFormFields(t *testing.T) {
	for path, want := range map[string]string{
		"spec.resources.cores":            "cores",
		"spec.resources.memoryMiB":        "memory",
		"spec.resources.diskGiB":          "disk",
		"spec.resources":                  "cores",
		"spec.network.ipv4":               "ipv4",
		"spec.packages.extra[0].names[1]": "extra",
		"spec.packages.excludeBuckets":    "exclude",
		"metadata.name":                   "name",
		"spec.hostname":                   "hostname",
		"spec.clusterRef.name":            "cluster",
		"spec.powerState":                 "",
	} {
		if got := FieldOf(path); got != want {
			t.Errorf("FieldOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestBuildMakesTheManifestTheFormDescribes(t *testing.T) {
	f := Parse(url.Values{"namespace": {"team-a"}, "template": {"nginx"}, "name": {"web-1"}, "cluster": {"pve"},
		"cores": {"2"}, "memory": {"1024"}, "ipv4": {"dhcp"}, "exclude": {"tools"}, "extra": {"curl jq"}, "skip": {"seed"}})
	c, errs := Build(f)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	y := YAML(c)
	for _, want := range []string{"apiVersion: lxc.templatemanager.dev/v1alpha1", "kind: LXCContainer", "name: web-1",
		"namespace: team-a", "cores: 2", "memoryMiB: 1024", "ipv4: dhcp", "- tools", "- curl", "- jq", "manager: apt", "- seed"} {
		if !strings.Contains(y, want) {
			t.Errorf("YAML lacks %q:\n%s", want, y)
		}
	}
	if strings.Contains(y, "status") || strings.Contains(y, "creationTimestamp") {
		t.Errorf("YAML carries status or creationTimestamp:\n%s", y)
	}
	_, errs = Build(Parse(url.Values{"cores": {"two"}}))
	if len(errs["cores"]) != 1 || errs.First() != StepConfigure {
		t.Errorf("a cores that is no number: %v", errs)
	}
}
