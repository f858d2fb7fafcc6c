package sandbox

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendAnswer appends v's JSON to b as encoding/json writes it with HTML left
// unescaped (writeJSON), byte for byte, without reflection for the values answers
// are made of: the envelope and its metadata, maps of strings to values (keys
// sorted, as encoding/json sorts them), lists, strings, whole numbers, and the
// hot answers' own types (a proxied UAPI result and its forwarder rows, listaccts'
// entries, feature rows). A parent's batch of 1,000 forwarder reads was encoded by reflection,
// every map's keys gathered and sorted on every answer: ≈1.5 CPU-s of the sandbox's
// answering of a 100k plan. Any other value is encoded by encoding/json itself;
// JSON encoding is compositional (a value's bytes do not depend on what holds it),
// so the whole is what encoding/json would write. TestAppendAnswerAsEncodingJSON
// holds the two to the same bytes.
func appendAnswer(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendStdString(b, v), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case []string:
		return appendList(b, v, func(b []byte, s *string) ([]byte, error) { return appendStdString(b, *s), nil })
	case []any:
		return appendList(b, v, func(b []byte, e *any) ([]byte, error) { return appendAnswer(b, *e) })
	case map[string]any:
		return appendMap(b, v)
	case []map[string]any:
		return appendList(b, v, func(b []byte, m *map[string]any) ([]byte, error) { return appendMap(b, *m) })
	case *answer:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '{')
		if v.Data != nil {
			b = append(b, `"data":`...)
			if b, err = appendAnswer(b, v.Data); err != nil {
				return nil, err
			}
			b = append(b, ',')
		}
		b = append(b, `"metadata":`...)
		if b, err = appendAnswer(b, v.Metadata); err != nil {
			return nil, err
		}
		return append(b, '}'), nil
	case *answerMeta:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, `{"command":`...)
		b = appendStdString(b, v.Command)
		if v.Output != nil {
			b = append(b, `,"output":`...)
			b, _ = appendAnswer(b, v.Output)
		}
		b = append(b, `,"reason":`...)
		b = appendStdString(b, v.Reason)
		b = append(b, `,"result":`...)
		b = strconv.AppendInt(b, int64(v.Result), 10)
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(v.Version), 10)
		return append(b, '}'), nil
	case *answerOutput:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '{')
		sep := false
		if len(v.Messages) > 0 {
			b = append(b, `"messages":`...)
			b, _ = appendAnswer(b, v.Messages)
			sep = true
		}
		if v.Raw != "" {
			if sep {
				b = append(b, ',')
			}
			b = append(b, `"raw":`...)
			b = appendStdString(b, v.Raw)
			sep = true
		}
		if len(v.Warnings) > 0 {
			if sep {
				b = append(b, ',')
			}
			b = append(b, `"warnings":`...)
			b, _ = appendAnswer(b, v.Warnings)
		}
		return append(b, '}'), nil
	case *uapiResult:
		if v == nil {
			return append(b, "null"...), nil
		}
		b = append(b, `{"data":`...)
		if b, err = appendAnswer(b, v.Data); err != nil {
			return nil, err
		}
		b = append(b, `,"errors":`...)
		b, _ = appendAnswer(b, v.Errors)
		b = append(b, `,"messages":`...)
		b, _ = appendAnswer(b, v.Messages)
		b = append(b, `,"metadata":`...)
		if b, err = appendMap(b, v.Metadata); err != nil {
			return nil, err
		}
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(v.Status), 10)
		b = append(b, `,"warnings":`...)
		b, _ = appendAnswer(b, v.Warnings)
		return append(b, '}'), nil
	case []forwarderRow:
		return appendList(b, v, func(b []byte, f *forwarderRow) ([]byte, error) {
			b = append(b, `{"dest":`...)
			b = appendStdString(b, f.Dest)
			b = append(b, `,"forward":`...)
			b = appendStdString(b, f.Forward)
			b = append(b, `,"html_dest":`...)
			b = appendStdString(b, f.HTMLDest)
			b = append(b, `,"html_forward":`...)
			b = appendStdString(b, f.HTMLForward)
			b = append(b, `,"uri_dest":`...)
			b = appendStdString(b, f.URIDest)
			b = append(b, `,"uri_forward":`...)
			b = appendStdString(b, f.URIForward)
			return append(b, '}'), nil
		})
	case []featureRow:
		return appendList(b, v, func(b []byte, f *featureRow) ([]byte, error) {
			b = append(b, `{"cpuser_setting":`...)
			b, err := appendAnswer(b, f.CPUserSetting)
			if err != nil {
				return nil, err
			}
			b = append(b, `,"feature":`...)
			b = appendStdString(b, f.Feature)
			b = append(b, `,"feature_list":`...)
			b = appendStdString(b, f.FeatureList)
			b = append(b, `,"feature_list_setting":`...)
			b = strconv.AppendInt(b, int64(f.FeatureListSetting), 10)
			b = append(b, `,"user":`...)
			b = appendStdString(b, f.User)
			return append(b, '}'), nil
		})
	case acctView:
		return v.appendJSON(b), nil
	case acctList:
		return appendList(b, v, func(b []byte, a *acctView) ([]byte, error) { return a.appendJSON(b), nil })
	case json.RawMessage:
		if v == nil {
			return append(b, "null"...), nil
		}
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, v); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return appendStdJSON(b, v)
}

// appendMap writes a map's entries in the order of their keys, as encoding/json does.
func appendMap(b []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	// Room on the stack for the answers' usual maps: createacct's data has 14 keys,
	// which an array of 8 sent to the heap once for every account created.
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendStdString(b, k)
		b = append(b, ':')
		if b, err = appendAnswer(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendStdJSON is encoding/json's encoding of v (HTML unescaped), for the values
// appendAnswer has no case of.
func appendStdJSON(b []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode's newline
}

// appendStdString writes s as encoding/json writes a string with HTML left
// unescaped (encoding/json's appendString): \b \f \n \r \t and other control
// characters escaped, each invalid byte as \ufffd, U+2028 and U+2029 escaped.
// (acctView's appendJSONString writes some of these differently, as it always has.)
func appendStdString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendList writes list as encoding/json writes a slice: null when nil, else each
// element by each, comma-separated, in brackets.
func appendList[T any](b []byte, list []T, each func([]byte, *T) ([]byte, error)) ([]byte, error) {
	if list == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i := range list {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = each(b, &list[i]); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}
