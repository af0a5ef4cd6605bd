// Package e2e checks the project end to end, the way a user runs it: its tests drive the
// project's own commands and binaries (hack/*.sh, bin/kubectl, bin/manager, bin/pvesim) against
// a local control plane and, wherever a feature reaches a guest, pvesim's lxc backend, so that
// each feature is shown working on real LXC containers.
//
// Everything here is a test (the files are all _test.go), and most of it needs root, the Debian
// packages `make deps` installs and the tools and OS template `make test` prepares in bin/. It
// holds no code for other packages to import.
package e2e
