package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/tether-dev/tether/providers"
)

// recordingFake is an observeFake that counts what its observation sent.
type recordingFake struct {
	observeFake
	calls *[]string
	err   error
}

func (f *recordingFake) RecordObserved(context.Context) error {
	*f.calls = append(*f.calls, f.name)
	return f.err
}

// RecordObserved asks only the providers that count their observation, in name
// order, and joins what they report.
func TestRecordObserved(t *testing.T) {
	var calls []string
	disabled := errors.New("member bind1 disabled after 3 consecutive failed commands")
	provs := map[string]providers.Provider{
		"zeta":  &recordingFake{observeFake: observeFake{name: "zeta"}, calls: &calls},
		"alpha": &recordingFake{observeFake: observeFake{name: "alpha"}, calls: &calls, err: disabled},
		"whm":   &observeFake{name: "whm"},
	}
	err := RecordObserved(context.Background(), provs)
	if !errors.Is(err, disabled) {
		t.Fatalf("error %v, want the provider's", err)
	}
	if len(calls) != 2 || calls[0] != "alpha" || calls[1] != "zeta" {
		t.Fatalf("calls %v, want alpha then zeta", calls)
	}
	if err := RecordObserved(context.Background(), map[string]providers.Provider{"whm": &observeFake{name: "whm"}}); err != nil {
		t.Fatalf("nothing to record: %v", err)
	}
}
