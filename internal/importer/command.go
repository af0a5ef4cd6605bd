package importer

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const importUsage = `Usage: manager import-templates [--namespace NS] [--output FILE] DIR

Reads the template directory DIR (one directory per template holding template.conf, with
scripts/, files/, files.conf, scripts.conf, config.env and packages.<manager> beside it, plus
shared package buckets in buckets/<name>.<manager>) and writes LXCTemplate and PackageBucket
manifests as multi-document YAML. Every problem found is listed on stderr with its file and
line; then nothing is written and the exit code is 1. The format is described in
docs/template-directory.md.

Flags:
`

// RunCommand runs "manager import-templates ARGS", writing the manifests to stdout (or the
// --output file) and problems to stderr, and returns the exit code: 0 on success, 1 otherwise.
func RunCommand(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("import-templates", flag.ContinueOnError)
	flags.SetOutput(stderr)
	namespace := flags.String("namespace", "", "Namespace to set on every object (default: none, left to kubectl).")
	output := flags.String("output", "", "File to write the manifests to (default: stdout).")
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
	if len(dirs) != 1 {
		fmt.Fprintln(stderr, "import-templates: give exactly one template directory")
		flags.Usage()
		return 1
	}
	dir := dirs[0]

	res, err := Import(dir, Options{Namespace: *namespace})
	if err != nil {
		var problems Problems
		if !errors.As(err, &problems) {
			fmt.Fprintf(stderr, "import-templates: %v\n", err)
			return 1
		}
		for _, p := range problems {
			p.File = filepath.Join(dir, filepath.FromSlash(p.File))
			fmt.Fprintln(stderr, p.String())
		}
		fmt.Fprintf(stderr, "import-templates: %d problem(s) in %s; nothing written\n", len(problems), dir)
		return 1
	}

	var out bytes.Buffer
	if err := WriteYAML(&out, res); err != nil {
		fmt.Fprintf(stderr, "import-templates: %v\n", err)
		return 1
	}
	if *output == "" || *output == "-" {
		if _, err := stdout.Write(out.Bytes()); err != nil {
			fmt.Fprintf(stderr, "import-templates: writing: %v\n", err)
			return 1
		}
	} else if err := writeFileAtomic(*output, out.Bytes()); err != nil {
		fmt.Fprintf(stderr, "import-templates: %v\n", err)
		return 1
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
