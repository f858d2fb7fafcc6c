package plan

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tether-dev/tether/schema"
)

// UnmarshalJSON reads a change back from a saved plan. Before and After are decoded
// into the schema type the address names (*schema.Node for node.NAME, ...), so a
// provider applying a saved plan sees the same values as one applying a fresh plan.
func (c *Change) UnmarshalJSON(b []byte) error {
	type plain Change // no methods: avoids recursion
	var raw struct {
		plain
		Before json.RawMessage `json:"before"`
		After  json.RawMessage `json:"after"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*c = Change(raw.plain)
	// Lists are written as [] when empty; in memory an empty list is nil, as in a
	// fresh plan.
	c.Fields, c.Warnings, c.DependsOn = nilIfEmpty(c.Fields), nilIfEmpty(c.Warnings), nilIfEmpty(c.DependsOn)
	if !c.Action.Valid() {
		return fmt.Errorf("change %s: unknown action %q", c.ID, c.Action)
	}
	addr, err := ParseAddress(c.Address)
	if err != nil {
		return fmt.Errorf("change %s: %w", c.ID, err)
	}
	if c.Before, err = decodeValue(addr.Kind, raw.Before); err != nil {
		return fmt.Errorf("change %s: before: %w", c.ID, err)
	}
	if c.After, err = decodeValue(addr.Kind, raw.After); err != nil {
		return fmt.Errorf("change %s: after: %w", c.ID, err)
	}
	return nil
}

// decodeValue returns an untyped nil for a missing or null value, so `c.Before == nil`
// holds for a create read back from a file as it does for a fresh plan.
func decodeValue(kind string, b json.RawMessage) (any, error) {
	if len(b) == 0 || bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil, nil
	}
	var v any
	switch kind {
	case KindNode:
		v = new(schema.Node)
	case KindAccount:
		v = new(schema.Account)
	case KindReseller:
		v = new(schema.Reseller)
	case KindCluster:
		v = new(schema.DNSCluster)
	case KindMember:
		v = new(schema.Member)
	default:
		return nil, fmt.Errorf("no value type for kind %q", kind)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kind, err)
	}
	return v, nil
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
