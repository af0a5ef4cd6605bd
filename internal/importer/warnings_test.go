package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const contractStore = "testdata/contract-store/infra/lxc/templates"

// TestContractStoreImportsWithOrderAndTimeoutWarnings: a store that uses only the script
// environment imports with its user, every *.sh in C-locale order with the long timeout, and
// warnings only for the order and the timeout.
func TestContractStoreImportsWithOrderAndTimeoutWarnings(t *testing.T) {
	res, err := Import(contractStore, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := res.Templates[0]
	if tmpl.Spec.ContainerUser != "devuser" {
		t.Errorf("containerUser %q", tmpl.Spec.ContainerUser)
	}
	var names []string
	for _, s := range tmpl.Spec.Scripts {
		names = append(names, s.Name)
		if s.TimeoutSeconds == nil || *s.TimeoutSeconds != defaultScriptTimeout {
			t.Errorf("%s: timeout %v, want %d", s.Name, s.TimeoutSeconds, defaultScriptTimeout)
		}
	}
	if got, want := strings.Join(names, " "), "01-user.sh 02-credentials.sh 10-order.sh 9-order.sh"; got != want {
		t.Errorf("scripts %s, want %s", got, want)
	}
	const dir = "contract-demo/container-configs/scripts/"
	want := []string{
		dir + "01-user.sh:1: the original gave scripts no time limit; each imported script gets timeoutSeconds 21600",
		dir + "9-order.sh:1: runs after 10-order.sh, as in the original: scripts run in C-locale file-name order",
	}
	if len(res.Warnings) != len(want) {
		t.Errorf("warnings:\n%v", res.Warnings.Error())
	}
	for i, w := range want {
		if i < len(res.Warnings) && !strings.HasPrefix(res.Warnings[i].String(), w) {
			t.Errorf("warning %d: %s, want %s…", i, res.Warnings[i], w)
		}
	}
}

// TestImportWarnsWhatWillNotWork: features that need root@pam, network fetches, variables and
// functions nobody provides, a script bash does not run, a file that is not a script — each
// a warning at its FILE:LINE, and the import still succeeds.
func TestImportWarnsWhatWillNotWork(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"t/template.conf": "TEMPLATE_OS=debian\nTEMPLATE_KEYCTL=1\nTEMPLATE_FUSE=\"${TEMPLATE_FUSE:-1}\"\n",
		"t/container-configs/scripts/01-net.sh": `#!/usr/bin/env bash
set -euo pipefail
# curl in a comment is not a fetch
curl -fsSL https://example.invalid/install.sh | bash
wget -q https://example.invalid/x
git clone https://example.invalid/repo.git /opt/repo
pip install git+https://example.invalid/pkg.git
add-apt-repository ppa:someone/thing
keyctl show
`,
		"t/container-configs/scripts/02-vars.sh": `#!/bin/bash
set -euo pipefail
LOCAL_DIR=/opt/app
for ITEM in a b; do echo "$ITEM"; done
read -r ANSWER <<<"x"
echo "$LOCAL_DIR $ANSWER $HOME ${CONTAINER_USER} ${OPTIONAL:-none}"
echo "$REPO_DIR" "$REPO_DIR"
if [[ "$CONFIG_MANAGER_FIRST_RUN" == true ]]; then detect_package_manager; fi
my_helper() { echo hi; }
my_helper
install_rust_toolchain --yes
cat <<'EOF'
not_a_call = "$NOT_EXPANDED"
not_a_call = "$NOT_EXPANDED"
EOF
`,
		"t/container-configs/scripts/03-sh.sh": "#!/bin/sh\necho plain\n",
		"t/container-configs/scripts/setup.py": "print('not run')\n",
	}
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Import(root, Options{})
	if err != nil {
		t.Fatalf("the import failed: %v", err)
	}
	got := res.Warnings.Error()
	const s = "t/container-configs/scripts/"
	for _, want := range []string{
		"t/template.conf:2: TEMPLATE_KEYCTL: Proxmox lets only root@pam set features.keyctl, so the ProxmoxCluster needs root@pam password credentials",
		"t/template.conf:3: TEMPLATE_FUSE: Proxmox lets only root@pam set features.fuse",
		s + "01-net.sh:4: fetches from the network (curl): the container needs egress to the internet",
		s + "01-net.sh:5: fetches from the network (wget)",
		s + "01-net.sh:6: fetches from the network (git clone)",
		s + "01-net.sh:7: fetches from the network (an install from a URL)",
		s + "01-net.sh:8: fetches from the network (apt-add-repository)",
		s + "01-net.sh:9: uses keyctl: the template needs features.keyctl",
		s + "02-vars.sh:7: uses $REPO_DIR, which the script does not set and the script environment does not provide",
		s + "02-vars.sh:8: calls detect_package_manager, a function of the original's engine that the script environment does not provide",
		s + "02-vars.sh:11: calls install_rust_toolchain, which the script does not define",
		s + "03-sh.sh:1: it runs with /bin/sh, not bash",
		s + "setup.py:1: not imported: the original ran only the *.sh files of scripts/",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q", want)
		}
	}
	for _, unwanted := range []string{":3: fetches", "LOCAL_DIR", "$ITEM", "ANSWER", "$HOME", "$CONTAINER_USER", "OPTIONAL", "my_helper", "not_a_call", "NOT_EXPANDED",
		"$CONFIG_MANAGER_FIRST_RUN"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("warnings mention %q:\n%s", unwanted, got)
		}
	}
	if strings.Count(got, "$REPO_DIR") != 1 {
		t.Errorf("$REPO_DIR is reported more than once:\n%s", got)
	}
	if t.Failed() {
		t.Logf("warnings:\n%s", got)
	}
}
