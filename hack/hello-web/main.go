// Command hello-web is the small web service the demo and the end-to-end tests install into
// containers as a Debian package: it serves /var/www/hello, or a page titled from
// /etc/hello-web/title when that directory is empty.
package main

import (
	"flag"
	"fmt"
	"html"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	root := flag.String("root", "/var/www/hello", "directory to serve")
	titleFile := flag.String("title-file", "/etc/hello-web/title", "file holding the default page's title")
	flag.Parse()

	files := http.FileServer(http.Dir(*root))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(filepath.Join(*root, "index.html")); err == nil {
			files.ServeHTTP(w, r)
			return
		}
		title := "hello-web"
		if b, err := os.ReadFile(*titleFile); err == nil && strings.TrimSpace(string(b)) != "" {
			title = strings.TrimSpace(string(b))
		}
		fmt.Fprintf(w, "<!doctype html><title>%[1]s</title><h1>%[1]s</h1>\n", html.EscapeString(title))
	})
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("hello-web serving %s on %s", *root, *listen)
	log.Fatal(srv.ListenAndServe())
}
