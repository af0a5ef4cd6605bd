// Package e2e checks the project end to end, the way a user runs it: its tests drive the
// project's own commands and binaries (hack/*.sh, bin/kubectl, bin/manager, bin/pvesim) against
// a local control plane and, wherever a feature reaches a guest, pvesim's lxc backend, so that
// each feature is shown working on real LXC containers.
//
// Everything here is a test (the files are all _test.go), and most of it needs root, the Debian
// packages `make deps` installs and the tools and OS template `make test` prepares in bin/. It
// holds no code for other packages to import.
//
// Every test runs in parallel with the others (t.Parallel), because each brings a stack of its
// own that shares nothing another test changes: a control plane on ports reserved with
// testkit.ReservePort, pvesim on port 0 with its own state directory (so its own lxcpath, VMIDs
// and LXC container names), a bridge and /24 subnet reserved with lxctest.Network (the README's
// pvesim, whose network follows from its state directory, reserves that one with
// lxctest.ReserveSubnet), nftables tables named after that bridge, and a ProxmoxCluster and
// controller namespace in its own API server. What the stacks share is read-only or locked: the
// OS template, the extracted template trees (lxctest.TemplateCache, one extraction under a file
// lock), the binaries and the hello-web repository built once per test process, and PostgreSQL,
// where each test gets a database of its own. Tests that kill processes kill only their own
// manager, and the SSH connections they cut are only those to their own subnet.
package e2e
