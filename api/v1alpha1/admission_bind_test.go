package v1alpha1_test

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestBindMountAndDeviceAdmission: what the API server refuses of bind mount points, devices
// and the mknod and mount feature flags, each naming the field.
func TestBindMountAndDeviceAdmission(t *testing.T) {
	ctx := controlPlane(t)
	refused := []refusal{
		{"bind and size", spec(templateHead, goodTemplate, "  mountPoints: [{index: 0, path: /data, sizeGiB: 1, hostPath: /srv/data}]\n"),
			[]string{"spec.mountPoints[0]", "exactly one of sizeGiB"}},
		{"neither bind nor size", spec(containerHead, goodRefs, "  mountPoints: [{index: 0, path: /data}]\n"),
			[]string{"spec.mountPoints[0]", "exactly one of sizeGiB"}},
		{"bind with storage", spec(templateHead, goodTemplate, "  mountPoints: [{index: 0, path: /data, hostPath: /srv/data, storage: local}]\n"),
			[]string{"spec.mountPoints[0].storage", "volumes only"}},
		{"bind with backup", spec(containerHead, goodRefs, "  mountPoints: [{index: 0, path: /data, hostPath: /srv/data, backup: true}]\n"),
			[]string{"spec.mountPoints[0].backup", "never backs up a bind mount"}},
		{"relative hostPath", spec(templateHead, goodTemplate, "  mountPoints: [{index: 0, path: /data, hostPath: srv/data}]\n"),
			[]string{"spec.mountPoints[0].hostPath", "should match"}},
		{"hostPath with ..", spec(templateHead, goodTemplate, "  mountPoints: [{index: 0, path: /data, hostPath: /srv/../etc}]\n"),
			[]string{"spec.mountPoints[0].hostPath", ". or .. segments"}},
		{"hostPath with a comma", spec(containerHead, goodRefs, "  mountPoints: [{index: 0, path: /data, hostPath: '/srv/a,ro=0'}]\n"),
			[]string{"spec.mountPoints[0].hostPath", "should match"}},
		{"hostPath with a semicolon", spec(containerHead, goodRefs, "  mountPoints: [{index: 0, path: /data, hostPath: '/srv/a;b'}]\n"),
			[]string{"spec.mountPoints[0].hostPath", "should match"}},
		{"hostPath with shell syntax", spec(templateHead, goodTemplate, "  mountPoints: [{index: 0, path: /data, hostPath: '/srv/$(id)'}]\n"),
			[]string{"spec.mountPoints[0].hostPath", "should match"}},
		{"hostPath a device", spec(templateHead, goodTemplate, "  mountPoints: [{index: 0, path: /data, hostPath: /dev/sda}]\n"),
			[]string{"spec.mountPoints[0].hostPath", "pass devices through with devices"}},
		{"device outside /dev", spec(templateHead, goodTemplate, "  devices: [{path: /etc/shadow}]\n"),
			[]string{"spec.devices[0].path", "should match"}},
		{"device with ..", spec(containerHead, goodRefs, "  devices: [{path: /dev/../etc/shadow}]\n"),
			[]string{"spec.devices[0].path", ". or .. segments"}},
		{"device with =", spec(containerHead, goodRefs, "  devices: [{path: '/dev/tun,mode=0777'}]\n"),
			[]string{"spec.devices[0].path", "should match"}},
		{"device mode", spec(templateHead, goodTemplate, "  devices: [{path: /dev/net/tun, mode: '777'}]\n"),
			[]string{"spec.devices[0].mode", "should match"}},
		{"device uid", spec(templateHead, goodTemplate, "  devices: [{path: /dev/net/tun, uid: -1}]\n"),
			[]string{"spec.devices[0].uid", "greater than or equal to 0"}},
		{"device gid", spec(containerHead, goodRefs, "  devices: [{path: /dev/net/tun, gid: 65536}]\n"),
			[]string{"spec.devices[0].gid", "less than or equal to 65535"}},
		{"device twice", spec(templateHead, goodTemplate, "  devices: [{path: /dev/fuse}, {path: /dev/fuse}]\n"),
			[]string{"spec.devices[1]", "Duplicate value"}},
		{"mount fstype", spec(templateHead, goodTemplate, "  features: {mount: ['nfs;cifs']}\n"),
			[]string{"spec.features.mount[0]", "should match"}},
		{"mount fstype empty", spec(templateHead, goodTemplate, "  features: {mount: ['']}\n"),
			[]string{"spec.features.mount[0]", "at least 1 chars long"}},
		{"policy feature", spec(clusterHead, goodCluster+"  endpoint: https://pve.example.com:8006/api2/json\n", "  policy: {features: [nesting, devices]}\n"),
			[]string{"spec.policy.features[1]", "Unsupported value"}},
		{"policy hostPaths", spec(clusterHead, goodCluster+"  endpoint: https://pve.example.com:8006/api2/json\n", "  policy: {hostPaths: ['/srv/a b']}\n"),
			[]string{"spec.policy.hostPaths[0]", "should match"}},
		{"policy hostPaths ..", spec(clusterHead, goodCluster+"  endpoint: https://pve.example.com:8006/api2/json\n", "  policy: {hostPaths: [/srv/..]}\n"),
			[]string{"spec.policy.hostPaths[0]", ". or .. segments"}},
		{"policy devices", spec(clusterHead, goodCluster+"  endpoint: https://pve.example.com:8006/api2/json\n", "  policy: {devices: [/etc/passwd]}\n"),
			[]string{"spec.policy.devices[0]", "should match"}},
	}
	expectAllRefused(t, ctx, refused)
}

// TestBindMountAndDeviceAccepted: a bind mount, a read-only one, devices with their options,
// the new feature flags and a policy allowing them all are admitted.
func TestBindMountAndDeviceAccepted(t *testing.T) {
	ctx := controlPlane(t)
	for _, m := range []string{
		spec(templateHead, goodTemplate, "  mountPoints: [{index: 0, path: /data, hostPath: /srv/data}, {index: 1, path: /cache, sizeGiB: 2, readOnly: true}]\n  devices: [{path: /dev/net/tun}, {path: /dev/dri/renderD128, mode: '0666', uid: 0, gid: 44, denyWrite: true}]\n  features: {nesting: true, keyctl: true, mknod: true, mount: [nfs, cifs]}\n"),
		spec(containerHead, goodRefs, "  mountPoints: [{index: 3, path: /media, hostPath: /tank/media, readOnly: true}]\n  devices: [{path: /dev/fuse}]\n"),
		spec(clusterHead, goodCluster+"  endpoint: https://pve.example.com:8006/api2/json\n", "  policy: {features: [nesting, keyctl, fuse, mknod, mount], hostPaths: [/srv, /tank/media], devices: [/dev/net/tun, /dev/fuse]}\n"),
	} {
		if err := env.Client.Create(ctx, decode(t, m), client.DryRunAll); err != nil {
			t.Errorf("rejected: %v\n%s", err, m)
		}
	}
}
