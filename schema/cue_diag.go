package schema

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/errors"
)

// ruleFix is the fix hint of each rule CUE reports, so a CUE fleet and a YAML fleet
// get the same advice.
var ruleFix = map[string]string{
	RuleA01: "lowercase letters and digits, starting with a letter, at most 16 characters, not a reserved name",
	RuleA02: "write the account's main domain, e.g. example.com",
	RuleA03: fixForwarderFrom,
	RuleD01: "declare the parent node, or correct the cluster's name",
	RuleS01: "reference the secret with tokenEnv/tokenFile or secretEnv/secretFile",
	RuleL10: "letters, digits, _ and -, at most 50 characters",
	RuleD06: "a whole number >= 1, or \"never\"",
	RuleR01: "declare it, or correct the name",
	RuleL01: "the parent of linked nodes only runs the STANDARD profile",
	RuleL02: "a child runs the same major version as its parent",
	RuleL03: "a child links to a node with role parent",
	RuleL05: "name a child of the account's parent that takes mail",
	RuleL06: "set ipv6: false, or keep the mail on the parent",
	RuleL07: "distributed accounts need the apitokens feature",
	RuleL08: "add dns to autossl.dcv",
	RuleL09: "pipe-to-program forwarders do not work on distributed mail; forward to an address",
	RuleL13: "move the mail to another child or the parent, or clear lost",
	RuleL16: "set this kind on the parent; a mail child governs virtual and list only",
	RuleD03: "set dnssec: false: cPanel's DNS cluster does not carry DNSSEC",
}

// ruleField says, for a rule checked in a hidden field of an object, which of the
// object's fields the diagnostic points at. "" is the object's key.
var ruleField = map[string]string{
	"_user":      "",
	"_alias":     "",
	"_r01parent": "parent",
	"_r01owner":  "owner",
	"_r01mail":   "mail.node",
	"_r01node":   "node",
	"_l01":       "profile",
	"_l02":       "version",
	"_l03":       "parent",
	"_l05":       "mail.node",
	"_l06":       "ipv6",
	"_l07":       "features.apitokens",
	"_l08":       "autossl.dcv",
	"_l09":       "forwarders",       // + index + ".to"
	"_a03from":   "forwarders",       // + index + ".from"
	"_a03to":     "forwarders",       // + index + ".to"
	"_l16":       "passwordStrength", // + kind
	"_d03":       "dnssec",
	"_d01":       "",
}

// ruleLeaf is, for a rule about one element of a list, the element's field the
// diagnostic points at: the list's index comes from the error's path.
var ruleLeaf = map[string]string{"_l09": "to", "_a03from": "from", "_a03to": "to"}

// hiddenFix is the fix of a rule whose hidden field needs other advice than the
// rule's own.
var hiddenFix = map[string]string{"_a03to": fixForwarderTo}

// secretRefField are fields whose value may be a secret written in the wrong place.
var secretRefField = map[string]bool{"token": true, "secret": true, "tokenEnv": true, "secretEnv": true, "tokenFile": true, "secretFile": true}

// cueDiagnostics turns CUE's errors into one diagnostic per offending field, with the
// rule the failing constraint stands for and the position in the operator's files.
// fallback names the file of a problem CUE gives no position for.
func cueDiagnostics(root cue.Value, err error, idx labelIndex, fallback string) Diagnostics {
	var ds Diagnostics
	seen := make(map[string]bool)
	for _, e := range errors.Errors(err) {
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if strings.Contains(format, "errors in empty disjunction") {
			continue // a header; its alternatives follow as errors of their own
		}
		path := unquotePath(e.Path())
		if len(path) > 0 && (path[0] == "#Fleet" || path[0] == "_tetherRules") {
			path = path[1:]
		}
		key := strings.Join(path, ".")
		if seen[key] {
			continue // one problem per field: the other alternatives say the same
		}
		seen[key] = true
		d := cueDiagnostic(root, e, path, msg, idx)
		if !d.Pos.IsValid() {
			d.Pos = Pos{File: fallback}
		}
		ds = append(ds, d)
	}
	return ds
}

func cueDiagnostic(root cue.Value, e errors.Error, path []string, msg string, idx labelIndex) Diagnostic {
	// Where a hidden field carries the check, the object is what precedes it.
	obj, hidden, rest := path, "", []string(nil)
	for i, s := range path {
		if _, ok := ruleField[s]; ok {
			obj, hidden, rest = path[:i], s, path[i+1:]
			break
		}
	}
	last := ""
	if len(obj) > 0 {
		last = obj[len(obj)-1]
	}
	d := Diagnostic{Rule: RuleSchema, Message: msg}
	switch {
	case strings.HasPrefix(msg, "TETHER-"):
		// "TETHER-XNN: what is wrong -- how to fix it"; without a fix, the rule's own.
		rule, text, _ := strings.Cut(msg, ": ")
		text, fix, _ := strings.Cut(text, " -- ")
		d.Rule, d.Message, d.Fix = rule, text, fix
	case strings.Contains(msg, "builtin package") || strings.Contains(msg, "imported but not defined") || strings.HasPrefix(msg, "import ") && strings.Contains(msg, "not found"):
		d.Rule, d.Message = RuleLoad, "CUE: "+strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(msg), " in"))
		d.Fix = "a fleet may import only CUE's standard library"
	case hidden == "_user":
		d.Rule, d.Message = RuleA01, fmt.Sprintf("%q is not a valid cPanel user name", last)
	case hidden == "_alias":
		d.Rule, d.Message = RuleL10, fmt.Sprintf("node name %q is not a valid link alias", last)
	case secretRefField[last] && !strings.HasPrefix(msg, "TETHER-"):
		// A value that fails tokenEnv's pattern may be the token itself pasted in the
		// wrong field: CUE's message would print it.
		d.Message = fmt.Sprintf("%s is not valid; its value is not shown, as it may be a secret", strings.Join(path, "."))
		d.Fix = "write the name of an environment variable (e.g. WEB1_WHM_TOKEN) or the path of a file, not the secret"
	case strings.Contains(msg, "field not allowed"):
		d.Message = fmt.Sprintf("unknown field %q", last)
		d.Fix = "check the spelling against the schema (tether schema --jsonschema)"
	case strings.Contains(msg, "incomplete value") || strings.Contains(msg, "non-concrete value"):
		// CUE's message repeats the whole constraint (a page of regular expressions
		// for a domain); the path says what is missing.
		d.Message = fmt.Sprintf("%s has no concrete value", strings.Join(path, "."))
		d.Fix = "give it a value (a template or a constraint alone is not one), or remove it"
	case last == "failureThreshold":
		d.Rule, d.Message = RuleD06, "the failure threshold is not a whole number >= 1 or \"never\""
	case last == "domain" && len(obj) == 3 && (obj[0] == "accounts" || obj[0] == "resellers") && !strings.Contains(msg, "mismatched types"):
		d.Rule, d.Message = RuleA02, fmt.Sprintf("the domain of %s is not a valid domain name", strings.Join(obj[:2], " "))
	case isMailList(path, msg):
		// An import writes an account observed with two Mail children as a list; the
		// schema's mail.node is one name, so CUE sees a type conflict. Say what it means,
		// the way the YAML loader does.
		d.Rule, d.Message, d.Fix = RuleL04, mailListMessage(root, path), "keep one child under mail.node"
		if p, ok := operatorPos(root.LookupPath(cuePath(append(append([]string(nil), path...), "1"))).Pos()); ok {
			d.Message = truncateMessage(d.Message)
			d.Pos = p
			return d
		}
	case len(path) == 0:
		d.Message = msg
	default:
		d.Message = strings.Join(path, ".") + ": " + msg
	}
	if d.Fix == "" {
		d.Fix = hiddenFix[hidden]
	}
	if d.Fix == "" {
		d.Fix = ruleFix[d.Rule]
	}
	d.Message = truncateMessage(d.Message)

	// Position: the field the rule is about, else the operator's value CUE names, else
	// the nearest declared label.
	target := obj
	if hidden != "" {
		f, ok := ruleField[hidden]
		if ok && f != "" {
			target = append(append([]string(nil), obj...), strings.Split(f, ".")...)
			target = append(target, rest...)
			if leaf := ruleLeaf[hidden]; leaf != "" {
				target = append(target, leaf)
			}
		}
	} else {
		target = path
	}
	d.Pos = bestPos(root, e, target, hidden == "", idx)
	return d
}

// bestPos finds where in the operator's files a problem at path is.
func bestPos(root cue.Value, e errors.Error, path []string, useErr bool, idx labelIndex) Pos {
	if useErr {
		for _, p := range e.InputPositions() {
			if op, ok := operatorPos(p); ok {
				return op
			}
		}
		if op, ok := operatorPos(e.Position()); ok {
			return op
		}
	}
	if len(path) > 0 {
		if op, ok := operatorPos(root.LookupPath(cuePath(path)).Pos()); ok && isLeafOrIndexed(idx, path) {
			return op
		}
	}
	if p := idx.pos(strings.Join(path, ".")); p.IsValid() {
		return p
	}
	// An object made by a comprehension: any of its leaves shows where it came from.
	for i := len(path); i > 0; i-- {
		if p, ok := leafPos(root.LookupPath(cuePath(path[:i]))); ok {
			return p
		}
	}
	return Pos{}
}

// isLeafOrIndexed prefers the label index for objects (their Pos() names the schema or
// a '{'), and CUE's position for leaves.
func isLeafOrIndexed(idx labelIndex, path []string) bool {
	_, indexed := idx[strings.Join(path, ".")]
	return !indexed
}

// leafPos returns the operator position of the first leaf under v.
func leafPos(v cue.Value) (Pos, bool) {
	if p, ok := operatorPos(v.Pos()); ok && v.IncompleteKind()&cue.StructKind == 0 {
		return p, true
	}
	it, err := v.Fields()
	if err != nil {
		return Pos{}, false
	}
	for it.Next() {
		if p, ok := leafPos(it.Value()); ok {
			return p, true
		}
	}
	return Pos{}, false
}

// unquotePath turns CUE's selectors ("\"mail.1\"") into plain labels (mail.1), the way
// the label index and Source.Fields name them.
func unquotePath(path []string) []string {
	for i, s := range path {
		if strings.HasPrefix(s, "\"") {
			if u, err := strconv.Unquote(s); err == nil {
				path[i] = u
			}
		}
	}
	return path
}

// cuePath builds a path of plain labels and list indexes.
func cuePath(sels []string) cue.Path {
	ss := make([]cue.Selector, len(sels))
	for i, s := range sels {
		if n, err := strconv.Atoi(s); err == nil {
			ss[i] = cue.Index(n)
			continue
		}
		ss[i] = cue.Str(s)
	}
	return cue.MakePath(ss...)
}

// cueMessage is an error's message without the path prefix CUE puts in front.
func cueMessage(err error) string {
	var e errors.Error
	if errors.As(err, &e) {
		format, args := e.Msg()
		return fmt.Sprintf(format, args...)
	}
	return err.Error()
}

// maxMessage bounds a message taken from CUE: a conflict between two large values
// prints both in full, which helps nobody on one line.
const maxMessage = 300

func truncateMessage(m string) string {
	if len(m) <= maxMessage {
		return m
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut--
	}
	return m[:cut] + "…"
}

// isMailList reports whether a CUE error is an account's mail.node written as a list,
// the form of TETHER-L04 (one child per service).
func isMailList(path []string, msg string) bool {
	return len(path) == 4 && (path[0] == "accounts" || path[0] == "resellers") && path[2] == "mail" &&
		path[3] == "node" && strings.Contains(msg, "mismatched types list and string")
}

// mailListMessage words TETHER-L04 as Check does for YAML, naming the first two children.
func mailListMessage(root cue.Value, path []string) string {
	kind := "account"
	if path[0] == "resellers" {
		kind = "reseller"
	}
	// The conflicting value is bottom as a whole, but its elements are still there.
	var names []string
	for i := 0; i < 2; i++ {
		el := append(append([]string(nil), path...), strconv.Itoa(i))
		if s, err := root.LookupPath(cuePath(el)).String(); err == nil {
			names = append(names, s)
		}
	}
	if len(names) < 2 {
		return fmt.Sprintf("%s %s: mail names more than one child; one child per service", kind, path[1])
	}
	return fmt.Sprintf("%s %s: mail names more than one child (%s and %s); one child per service", kind, path[1], names[0], names[1])
}
