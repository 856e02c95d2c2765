package node

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// iptablesBins and iptablesTables are where kube-proxy, the kubelet and the
// CNI plugins add chains.
var (
	iptablesBins   = []string{"iptables", "ip6tables"}
	iptablesTables = []string{"filter", "nat", "mangle", "raw"}
)

// ownedChainPrefixes name the chains Stop removes when they did not exist
// before Start: kube-proxy's and the kubelet's (KUBE-), the portmap plugin's
// (CNI-) and the node's own (LOCALKUBE-).
var ownedChainPrefixes = []string{"KUBE-", "CNI-", "LOCALKUBE-"}

// The node's own chains.
const (
	// forwardChain (filter, jumped to from FORWARD) drops traffic between the
	// bridge and any other interface, after cutsChain.
	forwardChain = "LOCALKUBE-NODE-FWD"
	// cutsChain (filter) holds the DROP rules of `localkube node cut`.
	cutsChain = "LOCALKUBE-NODE-CUTS"
	// apiChain (nat, jumped to from PREROUTING) sends pods' connections to the
	// kubernetes Service to the apiserver on loopback.
	apiChain = "LOCALKUBE-NODE-API"
)

// iptablesRunner runs iptables; tests replace it.
type iptablesRunner interface {
	// chains lists a table's chains.
	chains(bin, table string) ([]string, error)
	// rules lists a table's rules as `-A CHAIN ...` argument lists.
	rules(bin, table string) ([][]string, error)
	// run runs one command, e.g. ["-t", "nat", "-X", "KUBE-SERVICES"].
	run(bin string, args ...string) error
}

type execIptables struct{}

// iptablesTimeout bounds one iptables call; -w waits for the xtables lock,
// which kube-proxy holds while it syncs.
const iptablesTimeout = 30 * time.Second

func (execIptables) save(bin, table string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), iptablesTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-w", "5", "-t", table, "-S").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%s -t %s -S: %w: %s", bin, table, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("%s -t %s -S: %w", bin, table, err)
	}
	return string(out), nil
}

func (e execIptables) chains(bin, table string) ([]string, error) {
	out, err := e.save(bin, table)
	if err != nil {
		return nil, err
	}
	return parseChains(out), nil
}

func (e execIptables) rules(bin, table string) ([][]string, error) {
	out, err := e.save(bin, table)
	if err != nil {
		return nil, err
	}
	return parseRules(out)
}

func (execIptables) run(bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), iptablesTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// parseChains reads the chain names of `iptables -S` output (-P: built-in, -N: user).
func parseChains(out string) []string {
	var chains []string
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "-P" || f[0] == "-N") {
			chains = append(chains, f[1])
		}
	}
	return chains
}

// parseRules reads the -A lines of `iptables -S` output as argument lists,
// unquoting "..." as iptables quotes comments.
func parseRules(out string) ([][]string, error) {
	var rules [][]string
	for line := range strings.SplitSeq(out, "\n") {
		if !strings.HasPrefix(line, "-A ") {
			continue
		}
		args, err := splitQuoted(line)
		if err != nil {
			return nil, err
		}
		rules = append(rules, args)
	}
	return rules, nil
}

// splitQuoted splits an iptables -S line into arguments: spaces separate
// them except within double quotes, where \" and \\ are escapes.
func splitQuoted(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unbalanced quote in iptables rule %q", line)
	}
	if have {
		args = append(args, cur.String())
	}
	return args, nil
}

func owned(chain string) bool {
	for _, p := range ownedChainPrefixes {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}

// sweepChains removes, in every table, the owned chains that were not in
// before, and first every rule elsewhere that jumps to one of them. A table
// whose chains were not recorded is left alone: nothing says what was there.
func sweepChains(ipt iptablesRunner, before map[string][]string) ([]string, error) {
	var removed []string
	var errs []error
	for _, bin := range iptablesBins {
		for _, table := range iptablesTables {
			key := bin + " " + table
			was, recorded := before[key]
			if !recorded {
				continue
			}
			now, err := ipt.chains(bin, table)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			var doomed []string
			for _, c := range now {
				if owned(c) && !slices.Contains(was, c) {
					doomed = append(doomed, c)
				}
			}
			if len(doomed) == 0 {
				continue
			}
			rules, err := ipt.rules(bin, table)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, r := range rules {
				if len(r) < 2 || slices.Contains(doomed, r[1]) || !jumpsToAny(r, doomed) {
					continue
				}
				del := append([]string{"-t", table, "-D"}, r[1:]...)
				if err := ipt.run(bin, del...); err != nil {
					errs = append(errs, err)
				}
			}
			for _, c := range doomed {
				if err := ipt.run(bin, "-t", table, "-F", c); err != nil {
					errs = append(errs, err)
				}
			}
			for _, c := range doomed {
				if err := ipt.run(bin, "-t", table, "-X", c); err != nil {
					errs = append(errs, err)
					continue
				}
				removed = append(removed, key+" "+c)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// jumpsToAny reports whether rule (an -A argument list) jumps or goes to one of chains.
func jumpsToAny(rule, chains []string) bool {
	for i := 0; i+1 < len(rule); i++ {
		if (rule[i] == "-j" || rule[i] == "-g") && slices.Contains(chains, rule[i+1]) {
			return true
		}
	}
	return false
}

// firstRuleCommands are the iptables commands that make `-A chain -j
// target` the first rule of chain in table, given the table's rules: none
// when it already is; else an insert at the top, then deletes of the jump's
// other places (by number, highest first, so the numbers stay right). The
// jump is never missing in between.
func firstRuleCommands(rules [][]string, table, chain, target string) [][]string {
	jump := []string{"-A", chain, "-j", target}
	var places []int // 1-based rule numbers within chain
	n := 0
	for _, r := range rules {
		if len(r) < 2 || r[0] != "-A" || r[1] != chain {
			continue
		}
		n++
		if slices.Equal(r, jump) {
			places = append(places, n)
		}
	}
	if len(places) == 1 && places[0] == 1 {
		return nil
	}
	cmds := [][]string{{"-t", table, "-I", chain, "1", "-j", target}}
	for i := len(places) - 1; i >= 0; i-- {
		// The insert moved every old rule down by one.
		cmds = append(cmds, []string{"-t", table, "-D", chain, fmt.Sprint(places[i] + 1)})
	}
	return cmds
}

// ensureFirstRule makes `-j target` the first rule of chain in table.
func ensureFirstRule(r iptablesRunner, table, chain, target string) error {
	rules, err := r.rules("iptables", table)
	if err != nil {
		return err
	}
	for _, cmd := range firstRuleCommands(rules, table, chain, target) {
		if err := r.run("iptables", cmd...); err != nil {
			return err
		}
	}
	return nil
}
