package state_test

import (
	"testing"

	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/internal/state/statetest"
)

// The folder backend passes the suite every backend must pass; each handle is a
// separate Open of one folder, as separate processes would have.
func TestFolderConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) statetest.Factory {
		dir := t.TempDir()
		return func(t *testing.T) state.Store {
			s, err := state.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}
