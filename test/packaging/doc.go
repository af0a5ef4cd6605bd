// Package packaging checks the ways the controller ships: the kustomize tree under config/, the
// Helm chart under charts/, and the image's Dockerfile. The manifests are rendered with the
// project's own tools (bin/helm, bin/kustomize), checked against what the code generates, applied
// to a real kube-apiserver, and the manager is run under the RBAC they grant.
//
// Everything here is a test (the files are all _test.go); it holds no code for other packages
// to import.
package packaging
