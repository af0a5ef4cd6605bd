package main

import (
	"os"

	"templatemanager.dev/lxc-template-manager/internal/importer"
)

// importTemplates runs "manager import-templates [--apply [--dry-run]] [--namespace NS] DIR": it
// turns a template store in the original dashboard's layout into LXCTemplate and PackageBucket
// manifests, or applies them. The layout is described in docs/template-directory.md.
func importTemplates(args []string) int {
	return importer.RunCommand(args, os.Stdout, os.Stderr)
}
