package whmapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// WHM's Perl back end writes many numbers and booleans as JSON numbers or as strings
// ("1", "0", "unlimited", "*unknown*"), sometimes within one response. These types
// accept every spelling seen in the documentation so a response never fails to decode
// over a quoting difference.

// FlexInt is an integer that may arrive as a number, a numeric string, null or "".
// Valid is false for null, "", and non-numeric words such as "unlimited".
type FlexInt struct {
	N     int64
	Valid bool
}

// UnmarshalJSON accepts 12, "12", 12.0, null, "" and words (which leave it invalid).
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	*f = FlexInt{}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		var err error
		if s, err = unquote(b); err != nil {
			return fmt.Errorf("flexible integer %s: %w", truncate(b), err)
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*f = FlexInt{N: n, Valid: true}
		return nil
	}
	if x, err := strconv.ParseFloat(s, 64); err == nil {
		*f = FlexInt{N: int64(x), Valid: true}
		return nil
	}
	if b[0] == '"' {
		// A word such as "unlimited": a value, but not a number.
		return nil
	}
	return fmt.Errorf("flexible integer: cannot read %s", truncate(b))
}

// FlexBool is a boolean that may arrive as true/false, 1/0, "1"/"0", "yes"/"no",
// "on"/"off", null or "".
type FlexBool bool

// UnmarshalJSON accepts every common spelling; anything else is an error.
func (f *FlexBool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		var err error
		if s, err = unquote(b); err != nil {
			return fmt.Errorf("flexible boolean %s: %w", truncate(b), err)
		}
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "y", "on":
		*f = true
	case "0", "false", "no", "n", "off", "", "null":
		*f = false
	default:
		return fmt.Errorf("flexible boolean: cannot read %s", truncate(b))
	}
	return nil
}

// FlexString is a string that may arrive as a JSON number (a version "11" or a
// plan named 5); null becomes "".
type FlexString string

// UnmarshalJSON accepts strings, numbers, booleans and null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		s, err := unquote(b)
		if err != nil {
			return fmt.Errorf("flexible string %s: %w", truncate(b), err)
		}
		*f = FlexString(s)
	case b[0] == '{' || b[0] == '[':
		return fmt.Errorf("flexible string: got an object or array %s", truncate(b))
	default:
		*f = FlexString(b)
	}
	return nil
}

// unquote reads a JSON string. Most of WHM's strings have no escapes: those are
// sliced, not decoded, which matters over 10k-account listings.
func unquote(b []byte) (string, error) {
	if len(b) >= 2 && b[len(b)-1] == '"' && bytes.IndexByte(b[1:len(b)-1], '\\') < 0 && bytes.IndexByte(b[1:len(b)-1], '"') < 0 {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

func truncate(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
