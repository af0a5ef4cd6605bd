// Package importer turns a template store in the original dashboard's layout — one directory
// per template holding template.conf and container-configs/ with scripts, package lists,
// custom installers and managed files — into LXCTemplate and PackageBucket objects, and applies
// them.
//
// The layout is described in docs/template-directory.md. The importer checks every value
// against the rules the API server enforces for the CRDs, reports each problem with its file
// and line, and never drops input it does not understand: only documentation and the store's
// container.sh are skipped, with a note.
package importer
