package importer

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	lxcv1 "templatemanager.dev/lxc-template-manager/api/v1alpha1"
)

const importUsage = `Usage: manager import-templates [flags] DIR

Reads the template store DIR (such as infra/lxc/templates: one directory per template, each
holding template.conf and container-configs/ with scripts/, packages/ and files/) and writes
LXCTemplate and PackageBucket manifests as multi-document YAML, or with --apply stores them in
the cluster. Documentation (*.md) and container.sh are skipped with a note on stderr. Every
problem found is listed on stderr as FILE:LINE: message; then nothing is written or applied and
the exit code is 1. The format is described in docs/template-directory.md.

Flags:
`

// RunCommand runs "manager import-templates ARGS", writing the manifests to stdout (or the
// --output file, or the cluster with --apply) and notes and problems to stderr, and returns the
// exit code: 0 on success, 1 otherwise.
func RunCommand(args []string, stdout, stderr io.Writer) int {
	return runCommand(args, stdout, stderr, kubeConfig)
}

func kubeConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}

func runCommand(args []string, stdout, stderr io.Writer, config func(kubeconfig string) (*rest.Config, error)) int {
	flags := flag.NewFlagSet("import-templates", flag.ContinueOnError)
	flags.SetOutput(stderr)
	namespace := flags.String("namespace", "", "Namespace to set on every object (default: none, left to kubectl; required with --apply).")
	output := flags.String("output", "", "File to write the manifests to (default: stdout).")
	repoRoot := flags.String("repo-root", "", "Repository root that TEMPLATE_CONFIG_PATH is relative to (default: the nearest directory above each template where the path exists).")
	apply := flags.Bool("apply", false, "Store the objects in the cluster with server-side apply instead of printing them.")
	dryRun := flags.Bool("dry-run", false, "With --apply: ask the API server what would change, and change nothing.")
	kubeconfig := flags.String("kubeconfig", "", "Kubeconfig for --apply (default: $KUBECONFIG or ~/.kube/config).")
	flags.Usage = func() {
		fmt.Fprint(stderr, importUsage)
		flags.PrintDefaults()
	}
	// Flags may follow DIR as well as precede it.
	var dirs []string
	for {
		if err := flags.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 1
		}
		if flags.NArg() == 0 {
			break
		}
		dirs = append(dirs, flags.Arg(0))
		args = flags.Args()[1:]
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "import-templates: "+format+"\n", args...)
		return 1
	}
	switch {
	case len(dirs) != 1:
		flags.Usage()
		return fail("give exactly one template store directory")
	case *dryRun && !*apply:
		return fail("--dry-run goes with --apply; without it nothing is applied anyway")
	case *apply && *output != "":
		return fail("--apply and --output exclude each other")
	case *apply && *namespace == "":
		return fail("--apply needs --namespace")
	}
	dir := dirs[0]

	res, err := Import(dir, Options{Namespace: *namespace, RepoRoot: *repoRoot})
	if err != nil {
		var problems Problems
		if !errors.As(err, &problems) {
			return fail("%v", err)
		}
		for _, p := range problems {
			p.File = filepath.Join(dir, filepath.FromSlash(p.File))
			fmt.Fprintln(stderr, p.String())
		}
		return fail("%d problem(s) in %s; nothing written", len(problems), dir)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "Skipped %s\n", filepath.Join(dir, filepath.FromSlash(n)))
	}
	// Warnings do not stop the import: they say what to provide or expect.
	for _, w := range res.Warnings {
		w.File = filepath.Join(dir, filepath.FromSlash(w.File))
		fmt.Fprintln(stderr, "Warning: "+w.String())
	}

	if *apply {
		cfg, err := config(*kubeconfig)
		if err != nil {
			return fail("%v", err)
		}
		scheme, err := lxcv1.SchemeBuilder.Build()
		if err != nil {
			return fail("%v", err)
		}
		// The client logs through controller-runtime, which warns when nobody set a logger;
		// this command reports on stdout and stderr itself.
		ctrllog.SetLogger(logr.Discard())
		c, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return fail("%v", err)
		}
		if err := Apply(context.Background(), c, res, *dryRun, stdout); err != nil {
			return fail("%v", err)
		}
		return 0
	}

	var out bytes.Buffer
	if err := WriteYAML(&out, res); err != nil {
		return fail("%v", err)
	}
	if *output == "" || *output == "-" {
		if _, err := stdout.Write(out.Bytes()); err != nil {
			return fail("writing: %v", err)
		}
	} else if err := writeFileAtomic(*output, out.Bytes()); err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(stderr, "Imported %d template(s) and %d package bucket(s) from %s\n", len(res.Templates), len(res.Buckets), dir)
	return 0
}

// writeFileAtomic replaces path with data, so that a reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
