package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/internal/redact"
	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/schema"
)

func init() { subcommands = append(subcommands, plain(newSandboxCmd)) }

func newSandboxCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the simulated cPanel & WHM fleet",
	}
	cmd.AddCommand(newSandboxServeCmd())
	return cmd
}

func newSandboxServeCmd() *cobra.Command {
	var (
		state      string
		fleetPath  string
		faults     []string
		tsig       []string
		taskDelay  time.Duration
		flushEvery time.Duration
		dnsSync    time.Duration
		plainHTTP  bool
		gcPercent  int
		warmHeap   bool
	)
	cmd := &cobra.Command{
		Use:   "serve --state DIR [--fleet PATH] [--fault NODE:latency=20ms,errors=0.1,timeout,offline,failtasks ...] [--tsig KEY:ENV] [--plain-http]",
		Short: "Serve the simulated fleet on loopback until interrupted",
		Long: `Serve runs one WHM API 1 server per node on 127.0.0.1 and writes DIR/endpoints.json
(node name → WHM URL, DNS address, user, token, and the node's certificate: its SHA-256
fingerprint and caFile). Like a real server, each node answers HTTPS with a self-signed
certificate (kept in DIR, so its fingerprint survives a restart); --plain-http serves
plain HTTP instead. State persists in DIR, so a restart
keeps the fleet. With --fleet, nodes of the fleet that do not exist yet are created as
fresh installs. Faults can be changed while serving: POST /sandbox/faults?node=NAME.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state == "" {
				return fmt.Errorf("sandbox serve: --state DIR is required")
			}
			if dnsSync <= 0 {
				return fmt.Errorf("sandbox serve: --dns-sync-interval %s: want a positive duration such as 1m", dnsSync)
			}
			// Checked before the state loads (a minute at 100k accounts) and refused
			// rather than quietly served with Go's default, which is what a negative
			// value fell back to: an operator who set the flag meant something else.
			if gcPercent < 0 {
				return fmt.Errorf("sandbox serve: --gc-percent %d: want 0 (Go's default) or a positive percentage such as %d", gcPercent, serveGCPercent)
			}
			opts := sandbox.Options{
				StateDir:      state,
				Faults:        map[string]sandbox.Faults{},
				Logger:        slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), redact.Options(nil))),
				TaskDelay:     taskDelay,
				FlushInterval: flushEvery,
				// The full DNS-cluster replication is the sandbox's own resync (changes
				// are pushed at once anyway); at 100k accounts each round checks 200k
				// zone copies, a background cost large benchmarks stretch.
				DNSSyncInterval: dnsSync,
				PlainHTTP:       plainHTTP,
			}
			for _, spec := range tsig {
				name, env, ok := strings.Cut(spec, ":")
				if !ok || name == "" || env == "" {
					return fmt.Errorf("sandbox serve: --tsig %q: want KEYNAME:ENV_VAR (the secret, base64, is read from the variable)", spec)
				}
				secret := os.Getenv(env)
				if secret == "" {
					return fmt.Errorf("sandbox serve: --tsig %s: the variable %s is empty", name, env)
				}
				if opts.DNSKeys == nil {
					opts.DNSKeys = map[string]string{}
				}
				opts.DNSKeys[name] = secret
			}
			for _, spec := range faults {
				name, f, err := sandbox.ParseFault(spec)
				if err != nil {
					return fmt.Errorf("sandbox serve: %w", err)
				}
				opts.Faults[name] = f
			}
			if fleetPath != "" {
				fleet, ds, err := schema.Load(fleetPath)
				if err != nil {
					return fmt.Errorf("sandbox serve: %w", err)
				}
				// Only a fleet that passes every rule is served: node names become
				// file names in the state folder, and an unchecked one (../../x) would
				// write outside it.
				if len(ds) > 0 {
					for _, d := range ds {
						fmt.Fprintln(cmd.ErrOrStderr(), d.String())
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "%s; nothing was served (fix the fleet, then serve it)\n", problemCount(len(ds)))
					return exitError{code: 1}
				}
				if fleet == nil || len(fleet.Nodes) == 0 {
					return fmt.Errorf("sandbox serve: %s: no nodes to serve", fleetPath)
				}
				opts.Fleet = fleet
			}
			if _, live := sandbox.Serving(state); live {
				return fmt.Errorf("sandbox serve: another process already serves %s", state)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sb, err := sandbox.Start(ctx, opts)
			if err != nil {
				return err
			}
			if err := sandbox.WritePID(state); err != nil {
				_ = sb.Close()
				return fmt.Errorf("sandbox serve: %w", err)
			}
			if serveGCPolicy(gcPercent) && warmHeap {
				warmServeHeap()
			}
			eps := sb.Endpoints()
			fmt.Fprintf(cmd.OutOrStdout(), "sandbox: %d node(s) serving; endpoints in %s\n", len(eps.Nodes), sandbox.EndpointsFile(state))
			for _, name := range sb.Nodes() {
				ep := eps.Nodes[name]
				fmt.Fprintf(cmd.OutOrStdout(), "  %-16s whm %s  dns %s", name, ep.WHM, ep.DNS)
				if ep.Fingerprint != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "  certificate %s", ep.Fingerprint)
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "sandbox: stopping, state written to", state)
			return sb.Close()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "folder holding the sandbox state and endpoints.json")
	cmd.Flags().BoolVar(&plainHTTP, "plain-http", false, "serve WHM over plain HTTP instead of HTTPS with a self-signed certificate per node")
	cmd.Flags().StringVar(&fleetPath, "fleet", "", "a fleet file or folder whose nodes are created if missing")
	cmd.Flags().StringArrayVar(&faults, "fault", nil, "inject faults: NODE:latency=20ms,errors=0.1,timeout,offline,failtasks (repeatable)")
	cmd.Flags().StringArrayVar(&tsig, "tsig", nil, "require TSIG for DNS UPDATE and AXFR: KEYNAME:ENV_VAR, the base64 secret read from ENV_VAR (repeatable)")
	cmd.Flags().DurationVar(&taskDelay, "task-delay", 2*time.Second, "how long background tasks (distribution, profile activation) take")
	cmd.Flags().DurationVar(&flushEvery, "flush-interval", 200*time.Millisecond, "how often changed servers' state is written to --state (each write is the whole server: large benchmarks use seconds)")
	cmd.Flags().IntVar(&gcPercent, "gc-percent", serveGCPercent, "the Go collector's GOGC once the state is loaded (heap growth between collections, in percent of the live heap; $GOGC, when set, wins); 0 keeps Go's 100")
	cmd.Flags().BoolVar(&warmHeap, "warm-heap", true, "once the state is loaded, touch as much memory as the live state for answers to be made in (with --gc-percent), so that the first plans do not pay the machine's first touches of fresh memory")
	cmd.Flags().DurationVar(&dnsSync, "dns-sync-interval", 5*time.Second, "how often every DNS cluster is fully replicated to its members (zone changes are pushed at once anyway: large benchmarks use a minute)")
	return cmd
}

// serveGCPercent is sandbox serve's GOGC once the state is loaded. The state is a
// large heap that lives as long as the process (≈1.1 GB live for the 100k fleet's
// 1,000 nodes), and each collection marks all of it: ≈4 CPU-s on 2 cores, at Go's
// GOGC=100 about once per plan of that fleet, since a plan's answers allocate
// ≈0.8 GB. At 400 the heap may grow to five times the live one before a collection
// (≈5.5 GB at 100k accounts), so one collection serves several plans; the memory
// limit below bounds what that costs on a smaller machine.
const serveGCPercent = 400

// serveGCPolicy sets the collector for serving, unless $GOGC or the flag (0) keeps
// Go's: GOGC=percent, and, unless $GOMEMLIMIT is set, a soft memory limit of half
// the machine's memory, so a heap that would outgrow it is collected sooner instead
// of the sandbox crowding out the client it serves. It reports whether it raised
// GOGC.
func serveGCPolicy(percent int) bool {
	if percent <= 0 || os.Getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(percent)
	if os.Getenv("GOMEMLIMIT") != "" {
		return true
	}
	if total := physicalMemory(); total > 0 {
		debug.SetMemoryLimit(total / 2)
	}
	return true
}

// warmServeHeap touches, once the state is loaded and GOGC raised, memory for the
// answers to be allocated in: as much as the live heap, capped at a quarter of the
// memory limit. Under GOGC 400 no collection runs for several plans, so every byte
// a plan allocates (≈300 MB for the 100k fleet's) was memory the process had never
// touched: a page fault and a zeroed page each, which on this class of machine (a
// VM whose host backs a fresh page on first touch) cost 1.5–13 µs a page; perf put
// the page faults at 29 % of the sandbox's CPU over two plans (clear_page_erms
// under fnBatch's allocations). The heap grows that far before its first
// collection anyway: touched here, it is paid once while the process starts
// instead of by the plans it serves.
//
// The touched block is freed by a collection at Go's GOGC 100, after which GOGC is
// raised again: the runtime's scavenger keeps free memory in proportion to how far
// the heap goal rose since the last collection (gcPaceScavenger: about 2.75 times
// the heap in use for 100 → 400), so the freed block stays in the process for
// allocations to reuse (HeapReleased 5 MB after it). In a trial that collected at
// 400 instead, ≈280 MB of it had been given back before the first plan, which then
// faulted 64k pages.
func warmServeHeap() {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(samples)
	if samples[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	size := int64(samples[0].Value.Uint64())
	if limit := debug.SetMemoryLimit(-1); size > limit/4 {
		size = limit / 4
	}
	if size <= 0 {
		return
	}
	touchBlock(size)
	percent := debug.SetGCPercent(100)
	runtime.GC() // the block is garbage once touchBlock returns
	debug.SetGCPercent(percent)
}

// touchBlock allocates size bytes and writes one byte of each page, so that the
// system gives the process its pages now.
func touchBlock(size int64) {
	block := make([]byte, size)
	page := os.Getpagesize()
	for i := 0; i < len(block); i += page {
		block[i] = 1
	}
}

// physicalMemory is the machine's memory in bytes (MemTotal of /proc/meminfo), or 0
// where that cannot be read.
func physicalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
