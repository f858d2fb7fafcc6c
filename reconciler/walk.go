package reconciler

import (
	"sync"

	"github.com/tether-dev/tether/schema"
)

// parallelAccounts is the size of an accounts map from which walkAccounts shares the
// walk among goroutines; below it one goroutine is cheaper than handing out batches.
// Small fleets (every golden and fuzz test) therefore take the sequential path, which
// TestParallelDiffEqualsSequential holds the parallel one to.
const parallelAccounts = 8192

// accountBatch is how many entries the walking goroutine hands a worker at a time:
// enough that the channel costs nothing beside the look-ups, few enough that both
// workers finish together.
const accountBatch = 1024

// userAccount is one entry of an accounts map.
type userAccount struct {
	user string
	a    *schema.Account
}

// walkAccounts calls visit for every entry of m, in map order on the calling
// goroutine, or, for a large map and workers > 1, on workers goroutines each with
// its own part while the caller ranges over the map and hands out batches. It
// returns the parts for the caller to merge; visit must only read what other
// goroutines share, and write only its part. After the observe of a large plan the
// servers' side is idle and Tether has both cores; the diff of 100k accounts was
// the longest stretch left on one of them (docs/performance.md).
func walkAccounts[P any](m map[string]*schema.Account, workers int, visit func(p *P, user string, a *schema.Account)) []*P {
	if workers < 2 || len(m) < parallelAccounts {
		p := new(P)
		for user, a := range m {
			visit(p, user, a)
		}
		return []*P{p}
	}
	batches := make(chan []userAccount, workers)
	// Batches come back to be filled again, so a walk allocates a few of them, not
	// one per 1,024 entries.
	free := make(chan []userAccount, 2*workers)
	parts := make([]*P, workers)
	var wg sync.WaitGroup
	for i := range parts {
		p := new(P)
		parts[i] = p
		wg.Go(func() {
			for b := range batches {
				for _, e := range b {
					visit(p, e.user, e.a)
				}
				select {
				case free <- b[:0]:
				default:
				}
			}
		})
	}
	var b []userAccount
	for user, a := range m {
		if b == nil {
			select {
			case b = <-free:
			default:
				b = make([]userAccount, 0, accountBatch)
			}
		}
		b = append(b, userAccount{user, a})
		if len(b) == accountBatch {
			batches <- b
			b = nil
		}
	}
	if len(b) > 0 {
		batches <- b
	}
	close(batches)
	wg.Wait()
	return parts
}
