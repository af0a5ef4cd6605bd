// Package testkit holds the helpers this repository's tests share, so that each is written once
// and behaves the same everywhere: what -short means, how a test hands a port to a server,
// waiting until a check passes, waiting for a Proxmox task, reading a status condition, and
// scanning what a component wrote for secret values. Only tests and test support (the *test
// packages) import it.
//
// # What -short means
//
// In every package, `go test -short` runs only pure unit tests and in-process fakes: pvesim on
// its fake backend inside the test process, the fake backend's guest stand-ins, httptest
// servers, and the test binary itself run again as a child. Under -short no test
//
//   - needs root or root's features (file owners, namespaces, cgroups),
//   - boots a real LXC container, or runs a host daemon such as sshd,
//   - starts etcd or kube-apiserver (a package whose TestMain starts a control plane does not
//     start it under -short, and its tests that need it skip),
//   - talks to PostgreSQL,
//   - needs the tools or the OS template `make` builds into bin/ (helm, kustomize, kubectl,
//     the control plane, the manager, bin/ostemplates).
//
// A test that needs any of them calls SkipUnlessFull (or RequireRoot) first: under -short it is
// skipped, saying what it needs; without -short it runs, and a missing prerequisite fails it
// rather than skipping it, because the full run is the evidence that the feature works. `make
// test-unit` is `go test -short` over ./api/... ./cmd/... ./internal/...; `make test` runs
// everything.
//
// # Ports without a race
//
// Asking the kernel for a free port, closing it and handing the number on is a race: between
// the close and the server's bind, any other socket may take the port. So:
//
//   - A server in the test process takes a listener: Listen opens it on 127.0.0.1:0 and the
//     test passes the open listener (http.Server.Serve, pvesim.Server.Serve, …); the port is
//     never free in between.
//   - A child process that can bind port 0 itself does so and says which port it got (pvesim
//     logs its URL): the test starts it with "127.0.0.1:0" and reads the address back with
//     ReportedAddress.
//   - A process that must be told its port up front (etcd and kube-apiserver of
//     hack/local-up.sh, sshd, PostgreSQL, the manager's metrics and probe servers, the fake
//     guests' common port) gets one from ReservePort. Its ports come from the range just below
//     the kernel's ephemeral range (net.ipv4.ip_local_port_range), which the kernel never hands
//     out for port 0 or an outgoing connection, so no test's Listen or dial can take one; and
//     each reserved port is held by an exclusive lock on a file under $TMPDIR/lxctm-ports until
//     the test ends, so no two reservations of any test processes of this repository share one.
//     Before handing a port out, ReservePort checks that nothing listens on it already (a user's
//     own server). What it cannot rule out is a program outside these tests binding that very
//     port between the check and the child's bind.
package testkit
