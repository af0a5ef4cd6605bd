// Command envapp is the entrypoint of the application image the OCI tests build: it writes its
// environment to /envapp.out, serves it on port 8080 and runs until it is killed.
package main

import (
	"net"
	"os"
	"strings"
)

func main() {
	env := strings.Join(os.Environ(), "\n") + "\n"
	_ = os.WriteFile("/envapp.out", []byte(env), 0o644)
	l, err := net.Listen("tcp", ":8080")
	if err != nil {
		select {}
	}
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		_, _ = c.Write([]byte(env))
		_ = c.Close()
	}
}
