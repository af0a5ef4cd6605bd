package packaging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// TestDockerfile checks what can be checked without a container engine: the builder's Go is the
// one go.mod asks for, the build is static, the binary lands where the Deployments run it, and
// the image runs as a numeric non-root user (which runAsNonRoot needs).
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	if want := "FROM golang:" + string(goLine[1]) + " AS builder"; !strings.Contains(text, want) {
		t.Errorf("the Dockerfile does not build with %q (go.mod: go %s)", want, goLine[1])
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/manager", "COPY --from=builder /workspace/manager /manager", `ENTRYPOINT ["/manager"]`,
		// The chart's console Deployment runs /console from the same image.
		"./cmd/console", "COPY --from=builder /workspace/console /console"} {
		if !strings.Contains(text, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	var stages, user []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "FROM" {
			stages = append(stages, f[1])
			user = nil
		}
		if len(f) == 2 && f[0] == "USER" {
			user = f[1:]
		}
	}
	if len(stages) != 2 {
		t.Errorf("stages %v, want a builder and a runtime stage", stages)
	}
	if len(user) != 1 || !regexp.MustCompile(`^[1-9][0-9]*(:[1-9][0-9]*)?$`).MatchString(user[0]) {
		t.Errorf("the runtime stage's USER is %v, want a numeric non-root uid", user)
	}

	// The binary the image would hold: static, as the Dockerfile builds it.
	out, err := exec.Command("go", "version", "-m", manager(t)).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "CGO_ENABLED=0") {
		t.Errorf("manager build settings lack CGO_ENABLED=0:\n%s", out)
	}
}

// TestDockerIgnoreKeepsTheBuildInputs shows that the build context, as .dockerignore filters it,
// holds every file `go build ./cmd/manager ./cmd/console` reads (sources and embedded files: the
// console's templates, CSS and script) and leaves out the
// repository's binaries.
func TestDockerIgnoreKeepsTheBuildInputs(t *testing.T) {
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(rel string) bool {
		ex, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}

	cmd := exec.Command("go", "list", "-deps", "-json=Dir,Module,GoFiles,EmbedFiles", "./cmd/manager", "./cmd/console")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	files := []string{"go.mod", "go.sum"}
	for dec.More() {
		var pkg struct {
			Dir                 string
			Module              *struct{ Main bool }
			GoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&pkg); err != nil {
			t.Fatal(err)
		}
		if pkg.Module == nil || !pkg.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, pkg.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range append(pkg.GoFiles, pkg.EmbedFiles...) {
			files = append(files, filepath.Join(rel, name))
		}
	}
	if len(files) < 10 {
		t.Fatalf("go list found only %v", files)
	}
	for _, file := range files {
		if excluded(file) {
			t.Errorf(".dockerignore leaves out %s, which the image's build needs", file)
		}
	}
	for _, file := range []string{"bin/manager", "charts/lxc-template-manager/Chart.yaml", ".git/HEAD", "internal/controller/status_test.go"} {
		if !excluded(file) {
			t.Errorf(".dockerignore sends %s into the build context", file)
		}
	}
}
