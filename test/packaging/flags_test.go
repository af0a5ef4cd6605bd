package packaging

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var usageFlag = regexp.MustCompile(`^  -([a-z0-9-]+)`)

// managerDefaults returns each manager flag's default as `manager -h` prints it ("" when the
// default is the zero value, which the flag package leaves out).
func managerDefaults(t *testing.T) map[string]string {
	t.Helper()
	out, _ := exec.Command(manager(t), "-h").CombinedOutput()
	defaults := map[string]string{}
	current := ""
	for _, line := range strings.Split(string(out), "\n") {
		if m := usageFlag.FindStringSubmatch(line); m != nil {
			current = m[1]
			defaults[current] = ""
		}
		if i := strings.LastIndex(line, "(default "); i >= 0 && current != "" && strings.HasSuffix(line, ")") {
			v := strings.TrimSuffix(line[i+len("(default "):], ")")
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			defaults[current] = v
		}
	}
	if len(defaults) == 0 {
		t.Fatalf("manager -h printed no flags:\n%s", out)
	}
	return defaults
}

// sameFlagValue compares flag values by meaning: 10m and 10m0s are the same duration, an omitted
// bool default is false.
func sameFlagValue(a, b string) bool {
	if a == b {
		return true
	}
	if da, err := time.ParseDuration(a); err == nil {
		db, err := time.ParseDuration(b)
		return err == nil && da == db
	}
	if a == "" {
		a = "false"
	}
	if b == "" {
		b = "false"
	}
	ba, erra := strconv.ParseBool(a)
	bb, errb := strconv.ParseBool(b)
	return erra == nil && errb == nil && ba == bb
}

// TestRenderedArgsAreManagerFlags shows that every flag either packaging passes is one the manager
// knows; an unknown flag would stop it at start.
func TestRenderedArgsAreManagerFlags(t *testing.T) {
	defaults := managerDefaults(t)
	for name, b := range map[string]bundle{
		"chart": {helmTemplate(t, "lxctm", controllerNS, "--set", "metrics.certSecretName=tls",
			"--set", "proxmoxClusters.credentialsNamespaces={platform-secrets,team-a}")},
		"chart with the mirror": {helmTemplate(t, "lxctm", controllerNS, "--set", "mirror.enabled=true",
			"--set", "mirror.dsnSecretRef.name=pg", "--set", "mirror.redisUrlSecretRef.name=redis")},
		"kustomize": {kustomizeBuild(t, "config/default")},
	} {
		for _, arg := range managerContainer(t, b.deployment(t)).Args {
			flag := strings.TrimLeft(strings.SplitN(arg, "=", 2)[0], "-")
			if _, ok := defaults[flag]; !ok {
				t.Errorf("%s passes %q, which the manager does not know", name, arg)
			}
		}
	}
}
