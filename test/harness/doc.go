// Package harness runs clusters of real raftnode processes on loopback for
// tests: the binaries built once per test process, one OS process per member
// with its own data dir (fsync on) and log file, clusters formed the way the
// product intends, and helpers to kill, stop, restart and re-configure members
// while a workload runs.
//
// # Building once
//
// A test package builds the binaries once, in TestMain:
//
//	var bins harness.Binaries
//
//	func TestMain(m *testing.M) { harness.Main(m, &bins) }
//
// Main builds raftnode and raftctl into a temporary directory, runs the tests,
// checks with goleak that the test process leaked no goroutine, and removes the
// directory. Build does the building alone for a TestMain of one's own.
//
// # Forming a cluster
//
// StartCluster starts member 0 with --bootstrap (a cluster of one), then starts
// the other members without it (each makes its own member id and waits), adds
// each as a learner through the Admin API, waits until the leader has
// replicated its log to them, and promotes them all in one joint configuration
// change (automatic leave), then waits until every member applied the final
// configuration. Grow and Shrink change the membership of a running cluster
// the same way: one joint change each, the leader moved away first when it is
// to be removed.
//
// # Processes
//
// Every node listens on 127.0.0.1 ports reserved by listening on port 0 and
// closing; a fresh node that still loses its port to another process (tests of
// several packages run in parallel) is started again on new ports, and a
// restarted node, which must keep its addresses, retries the same ones. A
// node's stdout and stderr go to node.log in its directory, all starts
// appended; when the test failed, the tail of every node's log is written with
// t.Log. t.Cleanup kills every process a test started, also after t.Fatal; on
// Linux each process also gets SIGKILL when the test process dies.
//
// Options.ExtraArgs go to every node (TLS flags, for instance, with
// Options.ClientTLS for the harness's own connections); AddNodeArgs starts one
// node with flags of its own after them.
//
// # Errors and contexts
//
// StartCluster and Client take the test and fail it; they are for the test
// goroutine. Every other call that blocks takes a context and returns an
// error, so a workload or fault-injection goroutine can use it; WaitFor polls a
// condition until it holds or the context ends (no sleeps as assertions).
package harness
