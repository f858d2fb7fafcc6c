package main

import (
	"bytes"
	"testing"

	"github.com/tether-dev/tether/schema"
)

func TestSchemaCommand(t *testing.T) {
	js, err := schema.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []byte // nil: the command must fail
	}{
		{"json schema", []string{"schema", "--jsonschema"}, js},
		{"cue schema", []string{"schema", "--cue"}, schema.FleetCUE()},
		{"no flag", []string{"schema"}, nil},
		{"both flags", []string{"schema", "--jsonschema", "--cue"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(testCLI())
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&bytes.Buffer{})
			root.SetArgs(tt.args)
			err := root.Execute()
			switch {
			case tt.want == nil && err == nil:
				t.Fatalf("%v succeeded", tt.args)
			case tt.want != nil && err != nil:
				t.Fatalf("%v: %v", tt.args, err)
			case tt.want != nil && !bytes.Equal(out.Bytes(), tt.want):
				t.Errorf("%v printed %d bytes, want the %d of the schema", tt.args, out.Len(), len(tt.want))
			}
		})
	}
}
