// Command aptrepo serves a directory over HTTP as a flat apt repository, for containers on the
// simulator's bridge that have no other package source.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	listen := flag.String("listen", "", "address to serve on, such as the bridge address 169.254.X.1:8099")
	dir := flag.String("dir", "", "directory holding Packages, Release and the .deb files")
	flag.Parse()
	if *listen == "" || *dir == "" {
		log.Fatal("aptrepo: --listen and --dir are required")
	}
	srv := &http.Server{Addr: *listen, Handler: http.FileServer(http.Dir(*dir)), ReadHeaderTimeout: 5 * time.Second}
	log.Printf("aptrepo serving %s on %s", *dir, *listen)
	log.Fatal(srv.ListenAndServe())
}
