// Command deadinit is the init of an OS template whose guests die at boot, as systemd does when
// the host has run out of inotify instances: it says so on the console, then exits. Called as
// chpasswd it takes the password Proxmox sets at creation and does nothing with it.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	if filepath.Base(os.Args[0]) == "chpasswd" {
		_, _ = io.Copy(io.Discard, os.Stdin)
		return
	}
	// Long enough for the start to count as a success, as systemd gets that far before dying.
	time.Sleep(2 * time.Second)
	fmt.Println("deadinit: Failed to create control group inotify object: Too many open files")
	fmt.Println("deadinit: Freezing execution.")
	os.Exit(1)
}
