// Command httpserve serves the files of its working directory over HTTP at
// the address given as its only argument: the web server of the kubelet's
// tests, in place of one the machine may not have.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: httpserve HOST:PORT")
		os.Exit(2)
	}
	srv := &http.Server{Addr: os.Args[1], Handler: http.FileServer(http.Dir(".")), ReadHeaderTimeout: 5 * time.Second}
	fmt.Println("serving on", os.Args[1])
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "httpserve:", err)
		os.Exit(1)
	}
}
