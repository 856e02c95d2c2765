// Command raftctl talks to a raftkube cluster in the manner of etcdctl: it
// reads and writes keys, lists and changes membership, shows every member's
// status and benchmarks the cluster. Output is a table by default and JSON
// with -o json (field names are stable, for scripts).
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
