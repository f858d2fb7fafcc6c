// Command fleetgen writes a synthetic fleet (package fleetgen) for the benchmark
// harness (scripts/bench): one YAML file, a folder split by parent, or the nodes only
// (what a sandbox is started from before an apply creates the rest).
//
//	go run ./internal/fleetgen/cmd/fleetgen -accounts 100000 -out fleet.yaml
//	go run ./internal/fleetgen/cmd/fleetgen -parents 1000 -children 1 -dnsonly 0 -split -out DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tether-dev/tether/internal/fleetgen"
	"github.com/tether-dev/tether/schema"
)

func main() {
	large := fleetgen.Large(0)
	var (
		cfg       fleetgen.Config
		out       string
		split     bool
		nodesOnly bool
	)
	flag.IntVar(&cfg.Accounts, "accounts", 10000, "accounts, spread over the parents")
	flag.IntVar(&cfg.Parents, "parents", large.Parents, "parent nodes")
	flag.IntVar(&cfg.ChildrenPerParent, "children", large.ChildrenPerParent, "mail children per parent")
	flag.IntVar(&cfg.DNSOnlyPerParent, "dnsonly", large.DNSOnlyPerParent, "DNS-only cluster members per parent")
	flag.IntVar(&cfg.Resellers, "resellers", -1, "resellers (default one per 100 accounts)")
	flag.StringVar(&out, "out", "", "the YAML file to write (a folder with -split)")
	flag.BoolVar(&split, "split", false, "write a folder, one file per parent")
	flag.BoolVar(&nodesOnly, "nodes-only", false, "write the nodes alone (no resellers, accounts or DNS clusters)")
	flag.Parse()
	if out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: fleetgen [flags] -out PATH")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if cfg.Resellers < 0 {
		cfg.Resellers = max(1, cfg.Accounts/100)
	}
	cfg.Version = large.Version
	if err := write(cfg, out, split, nodesOnly); err != nil {
		fmt.Fprintln(os.Stderr, "fleetgen:", err)
		os.Exit(1)
	}
}

func write(cfg fleetgen.Config, out string, split, nodesOnly bool) error {
	switch {
	case nodesOnly:
		f := fleetgen.Generate(cfg)
		nodes := &schema.Fleet{Nodes: f.Nodes}
		w, err := os.Create(out)
		if err != nil {
			return err
		}
		if err := fleetgen.WriteYAML(w, nodes); err != nil {
			w.Close()
			return err
		}
		return w.Close()
	case split:
		_, err := fleetgen.WriteDir(out, cfg)
		return err
	default:
		_, err := fleetgen.WriteFile(out, cfg)
		return err
	}
}
