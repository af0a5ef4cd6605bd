// Package ssh is the controller's SSH client for the containers it provisions.
//
// It dials with retry and exponential backoff while a container boots, pins the container's host
// key (the first key seen is returned for the caller to record; a different key later is refused),
// runs commands with a timeout, streams their output line by line, uploads files over SFTP
// (atomically, with mode and owner, never through a command line), and starts detached runs:
// scripts that run inside the container under systemd, outlive the SSH session and leave their
// output, exit code and timestamps under RunsDir for a later connection to read back.
//
// The controller depends only on the Connector and Session interfaces, so load tests can use an
// in-process stand-in; Dialer and Client are the real implementation.
package ssh
