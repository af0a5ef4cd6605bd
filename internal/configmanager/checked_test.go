package configmanager

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRenderCheckedScript(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "installed")
	runs := filepath.Join(dir, "runs")
	check := "test -f '" + marker + "' && grep -q \"it's here\" '" + marker + "'"
	install := "#!/bin/bash\necho run >> '" + runs + "'\necho \"it's here\" > '" + marker + "'\n"
	run := func(script []byte) (string, int) {
		t.Helper()
		cmd := exec.Command("bash", "-c", string(script))
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	script := RenderCheckedScript("tool", check, []byte(install))

	out, code := run(script)
	if code != 0 || !strings.Contains(out, "check-failed: the check of tool fails; running it") || !strings.Contains(out, "check-passed: tool is in place") {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	out, code = run(script)
	if code != 0 || !strings.Contains(out, CheckPassedMarker+" the check of tool passes; not running it") {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(runs); string(data) != "run\n" {
		t.Errorf("the script ran %q times, want once", data)
	}

	// A script that fails fails the run; one that leaves the check failing does too.
	if out, code := run(RenderCheckedScript("bad", "false", []byte("exit 3\n"))); code != 3 {
		t.Errorf("failing script: exit %d, want 3\n%s", code, out)
	}
	if out, code := run(RenderCheckedScript("noop", "false", []byte("true\n"))); code != 1 || !strings.Contains(out, "finished but its check still fails") {
		t.Errorf("script leaving the check failing: exit %d\n%s", code, out)
	}
}
