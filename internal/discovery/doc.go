// Package discovery turns what a container reports about itself into services: the listening
// sockets of `ss -Htlnup`, the systemd unit behind each socket's process (from
// /proc/<pid>/cgroup), the running services, and the credentials env files that scripts leave
// in /etc/config-manager/credentials.
//
// Everything here is a pure parser over text. The one piece that runs in the container is the
// collector script (CollectorScript), uploaded as a file and run in one SSH exec; its framed
// output is read by ParseSnapshot.
package discovery
