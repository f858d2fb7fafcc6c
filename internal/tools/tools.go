//go:build tools

// Package tools pins the libraries DESIGN.md chose, so go.mod keeps them while the
// packages that use them are being written.
package tools

import (
	_ "cuelang.org/go/cue"
	_ "cuelang.org/go/cue/cuecontext"
	_ "cuelang.org/go/cue/load"
	_ "cuelang.org/go/encoding/jsonschema"
	_ "cuelang.org/go/encoding/yaml"
	_ "github.com/ProtonMail/go-crypto/openpgp"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/hashicorp/go-multierror"
	_ "github.com/miekg/dns"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
	_ "gopkg.in/yaml.v3"
)
