package main

import (
	"os"

	"templatemanager.dev/lxc-template-manager/internal/importer"
)

// importTemplates runs "manager import-templates [--namespace NS] [--output FILE] DIR": it
// turns a directory of template.conf templates into LXCTemplate and PackageBucket manifests.
// The format is described in docs/template-directory.md.
func importTemplates(args []string) int {
	return importer.RunCommand(args, os.Stdout, os.Stderr)
}
