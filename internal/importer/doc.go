// Package importer turns a template directory — one directory per template holding a
// template.conf with scripts, managed files, environment and package lists beside it, plus
// shared package buckets — into LXCTemplate and PackageBucket objects.
//
// The format is described in docs/template-directory.md. The importer checks every value
// against the rules the API server enforces for the CRDs, reports each problem with its file
// and line, and never drops input it does not understand: an unknown key or file is a problem.
package importer
