package session

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-dev/tether/internal/sandbox"
	"github.com/tether-dev/tether/internal/state"
	"github.com/tether-dev/tether/providers"
	_ "github.com/tether-dev/tether/providers/all"
	"github.com/tether-dev/tether/schema"
)

const secret = "TOKEN-VALUE-abc123"

func fakeEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if c, ok := files[p]; ok {
			return []byte(c), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
}

func TestRealEndpoints(t *testing.T) {
	fleet := &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1":  {Role: "parent", Host: "web1.example.net", Credentials: &schema.Credentials{User: "root", TokenEnv: "WEB1_WHM_TOKEN"}},
		"mail1": {Role: "child", Host: "2001:db8::20", Port: 8443, Credentials: &schema.Credentials{User: "tether", TokenFile: "/etc/tether/mail1.token"}, TLS: &schema.TLS{CAFile: "/etc/ca.pem"}},
		"ns1":   {Role: "dnsonly", Host: "ns1.example.net", TLS: &schema.TLS{Insecure: true}, Credentials: &schema.Credentials{TokenEnv: "NS1"}},
	}}
	s, err := Open(context.Background(), fleet, Options{
		FleetPath: t.TempDir(),
		Getenv:    fakeEnv(map[string]string{"WEB1_WHM_TOKEN": secret, "NS1": " ns1tok\n"}),
		ReadFile:  fakeFiles(map[string]string{"/etc/tether/mail1.token": "mailtok\n"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]providers.Endpoint{
		"web1":  {URL: "https://web1.example.net:2087", User: "root", Token: secret},
		"mail1": {URL: "https://[2001:db8::20]:8443", User: "tether", Token: "mailtok", CAFile: "/etc/ca.pem"},
		"ns1":   {URL: "https://ns1.example.net:2087", User: "root", Token: "ns1tok", Insecure: true},
	}
	for n, w := range want {
		if got := s.Config.Endpoints[n]; got != w {
			t.Errorf("%s: %+v, want %+v", n, got, w)
		}
	}
	if _, ok := s.Providers["whm"]; !ok {
		t.Errorf("providers %v lack whm", s.Providers)
	}
	if s.Sandbox != "" {
		t.Errorf("real mode says sandbox %q", s.Sandbox)
	}
}

func TestRealEndpointsReportEveryProblemWithoutSecrets(t *testing.T) {
	fleet := &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1":  {Role: "parent", Host: "web1.example.net", Credentials: &schema.Credentials{TokenEnv: "WEB1_WHM_TOKEN"}},
		"mail1": {Role: "child", Host: "mail1.example.net", Credentials: &schema.Credentials{TokenFile: "/missing.token"}},
		"mail2": {Role: "child", Host: "mail2.example.net"},
		"mail3": {Role: "child", Credentials: &schema.Credentials{TokenEnv: "X"}},
		"mail4": {Role: "child", Host: "h", Credentials: &schema.Credentials{TokenFile: "/empty"}},
		"ok":    {Role: "child", Host: "ok.example.net", Credentials: &schema.Credentials{TokenEnv: "OK"}},
	}}
	_, err := Open(context.Background(), fleet, Options{
		Getenv:   fakeEnv(map[string]string{"OK": secret, "X": secret}),
		ReadFile: fakeFiles(map[string]string{"/empty": "\n"}),
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{
		"node web1: environment variable WEB1_WHM_TOKEN (credentials.tokenEnv) is not set or empty",
		"node mail1: read token file (credentials.tokenFile): open /missing.token: file does not exist",
		"node mail2: no credentials",
		"node mail3: no host",
		"node mail4: token file /empty (credentials.tokenFile) is empty",
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "node ok") {
		t.Errorf("error mentions the good node or a secret:\n%v", err)
	}
}

func TestSecrets(t *testing.T) {
	sec := resolver(Options{Getenv: fakeEnv(map[string]string{"TSIG": secret}), ReadFile: fakeFiles(map[string]string{"/k": secret + "\n"})}).Func()
	for _, tt := range []struct{ env, file, want, err string }{
		{env: "TSIG", want: secret},
		{file: "/k", want: secret},
		{env: "NOPE", err: "environment variable NOPE is not set"},
		{file: "/nope", err: "read secret file"},
		{err: "no secret reference"},
	} {
		got, err := sec(tt.env, tt.file)
		if got != tt.want || (tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err))) {
			t.Errorf("%+v: %q, %v", tt, got, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("secret in error: %v", err)
		}
	}
}

func TestDirs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{dir, filepath.Join(dir, ".tether", "state")},
		{file, filepath.Join(dir, ".tether", "state")},
		{"", filepath.Join(".", ".tether", "state")},
	} {
		if got := StateDir(tt.path); got != tt.want {
			t.Errorf("StateDir(%q) = %s, want %s", tt.path, got, tt.want)
		}
	}
	if got := (Options{FleetPath: file}).withDefaults().SandboxState; got != filepath.Join(dir, ".tether", "sandbox") {
		t.Errorf("sandbox state %s", got)
	}
}

func sandboxFleet() *schema.Fleet {
	return &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1":  {Role: "parent", Host: "web1.example.net", Version: 118, Profile: "STANDARD"},
		"mail1": {Role: "child", Parent: "web1", Host: "mail1.example.net", Version: 118, Profile: "MAILNODE"},
	}}
}

func TestSandboxInProcess(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), sandboxFleet(), Options{Sandbox: true, SandboxState: dir})
	if err != nil {
		t.Fatal(err)
	}
	if s.InProcess == nil || !strings.Contains(s.Sandbox, "in-process") {
		t.Fatalf("sandbox %q, in-process %v", s.Sandbox, s.InProcess)
	}
	for _, n := range []string{"web1", "mail1"} {
		ep := s.Config.Endpoints[n]
		// Over HTTPS, the node's certificate pinned by fingerprint.
		if !strings.HasPrefix(ep.URL, "https://127.0.0.1:") || ep.Token == "" || ep.User != "root" || !strings.HasPrefix(ep.Fingerprint, "sha256:") {
			t.Errorf("%s: URL %s user %s fingerprint %q", n, ep.URL, ep.User, ep.Fingerprint)
		}
	}
	// A second command on the same folder is told to wait or share.
	if _, err := Open(context.Background(), sandboxFleet(), Options{Sandbox: true, SandboxState: dir}); err == nil ||
		!strings.Contains(err.Error(), "tether sandbox serve --state "+dir) {
		t.Fatalf("second in-process sandbox: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(context.Background(), sandboxFleet(), Options{Sandbox: true, SandboxState: dir})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	s2.Close()
	if _, err := os.Stat(filepath.Join(dir, "endpoints.json")); err != nil {
		t.Errorf("the sandbox kept no state: %v", err)
	}
}

func TestSandboxServedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	sb, err := sandbox.Start(context.Background(), sandbox.Options{StateDir: dir, Fleet: sandboxFleet()})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if err := sandbox.WritePID(dir); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), sandboxFleet(), Options{Sandbox: true, SandboxState: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.InProcess != nil || !strings.Contains(s.Sandbox, "served from") {
		t.Fatalf("started its own sandbox: %q", s.Sandbox)
	}
	if got, want := s.Config.Endpoints["web1"].URL, sb.Endpoints().Nodes["web1"].WHM; got != want {
		t.Errorf("web1 at %s, the server is at %s", got, want)
	}
}

// The providers get the same state the command uses: the folder next to the fleet, or
// tether-state inside the sandbox's folder, or the store the caller gives (watch).
func TestOpenHandsTheStateToProviders(t *testing.T) {
	ctx := context.Background()
	fleetDir := t.TempDir()
	fleet := &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1": {Role: "parent", Host: "web1.example.net", Credentials: &schema.Credentials{TokenEnv: "T"}},
	}}
	for _, tc := range []struct {
		name string
		opts Options
		dir  string
	}{
		{"real servers", Options{FleetPath: fleetDir, Getenv: fakeEnv(map[string]string{"T": secret})}, filepath.Join(fleetDir, ".tether", "state")},
		{"sandbox", Options{FleetPath: fleetDir, Sandbox: true, SandboxState: filepath.Join(fleetDir, "sb")}, filepath.Join(fleetDir, "sb", "tether-state")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, fleet, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if s.State == nil || s.Config.State == nil || s.Config.State != providers.State(s.State) {
				t.Fatalf("state %v, providers' %v", s.State, s.Config.State)
			}
			if err := s.State.Put(ctx, "test/ns", map[string]string{"web1/bind1": "disabled"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			st, err := OpenState(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if f, ok := st.(*state.Folder); !ok || f.Dir() != tc.dir {
				t.Errorf("state %T in %v, want the folder %s", st, st, tc.dir)
			}
			if v, ok, _ := st.Get(ctx, "test/ns", "web1/bind1"); !ok || v != "disabled" {
				t.Errorf("what the session's state recorded is not in %s", tc.dir)
			}
		})
	}

	folder, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	given := &closeCounter{Store: folder}
	s, err := Open(ctx, fleet, Options{FleetPath: fleetDir, State: given, Getenv: fakeEnv(map[string]string{"T": secret})})
	if err != nil {
		t.Fatal(err)
	}
	if s.State != state.Store(given) || s.Config.State != providers.State(given) {
		t.Fatal("a given store was not used")
	}
	s.Close()
	if given.closed != 0 {
		t.Fatal("the session closed a store it did not open")
	}
}

type closeCounter struct {
	state.Store
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return c.Store.Close() }

// TestSecretFilePermissions: a token or secret file its group or others can read draws
// a warning naming the file and the fix, and is refused under --strict.
func TestSecretFilePermissions(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(secret+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	private, group, world := write("private", 0o600), write("group", 0o640), write("world", 0o644)
	for _, tt := range []struct {
		path   string
		strict bool
		warn   bool
		err    bool
	}{
		{path: private},
		{path: private, strict: true},
		{path: group, warn: true},
		{path: world, warn: true},
		{path: world, strict: true, err: true},
		{path: group, strict: true, err: true},
	} {
		for _, kind := range []string{"token", "secret"} {
			var logs strings.Builder
			opts := Options{StrictSecrets: tt.strict, Logger: slog.New(slog.NewTextHandler(&logs, nil))}.withDefaults()
			var got string
			var err error
			if kind == "token" {
				got, err = token("web1", &schema.Credentials{TokenFile: tt.path}, opts)
			} else {
				got, err = resolver(opts).Func()("", tt.path)
			}
			name := fmt.Sprintf("%s %s strict=%v", kind, filepath.Base(tt.path), tt.strict)
			if tt.err {
				if err == nil || !strings.Contains(err.Error(), "chmod 600 "+tt.path) || !strings.Contains(err.Error(), "--strict") {
					t.Errorf("%s: error %v, want a refusal naming the fix", name, err)
				}
			} else if err != nil || got != secret {
				t.Errorf("%s: %q, %v", name, got, err)
			}
			if warned := strings.Contains(logs.String(), "can be read by its group or others"); warned != tt.warn {
				t.Errorf("%s: warned %v, want %v:\n%s", name, warned, tt.warn, logs.String())
			}
			if strings.Contains(logs.String(), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
				t.Errorf("%s: the secret was printed", name)
			}
		}
	}
}

// TestRealServerThroughAddress reaches a server the way an operator reaches one behind
// a tunnel: the fleet names its host (web1.example.net, as in DNS and the rules),
// address says where to connect, and its self-signed certificate is pinned by
// fingerprint. Unpinned, the same server is refused with an error that names the
// node, the fingerprint seen and how to pin it.
func TestRealServerThroughAddress(t *testing.T) {
	fleet := &schema.Fleet{Nodes: map[string]*schema.Node{
		"web1": {Role: "parent", Host: "web1.example.net", Version: 118, Profile: "STANDARD"},
	}}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{StateDir: t.TempDir(), Fleet: fleet})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ep := sb.Endpoints().Nodes["web1"]
	addr := strings.TrimPrefix(ep.WHM, "https://")
	vars := fakeEnv(map[string]string{"WEB1_WHM_TOKEN": ep.Token})
	node := fleet.Nodes["web1"]
	node.Credentials = &schema.Credentials{User: "root", TokenEnv: "WEB1_WHM_TOKEN"}
	node.Address = addr

	for _, tc := range []struct {
		name string
		tls  *schema.TLS
		want []string // substrings of the error; none means it must work
	}{
		{"pinned", &schema.TLS{Fingerprint: ep.Fingerprint}, nil},
		{"the certificate as CA file", &schema.TLS{CAFile: ep.CAFile}, nil},
		{"unpinned", nil, []string{"web1", ep.Fingerprint, `tls: {fingerprint: "` + ep.Fingerprint + `"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node.TLS = tc.tls
			s, err := Open(context.Background(), fleet, Options{Getenv: vars, StateDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Config.Endpoints["web1"].URL; got != "https://web1.example.net:2087" {
				t.Fatalf("URL %s: the host must stay the fleet's", got)
			}
			_, err = s.Providers["whm"].Observe(context.Background(), "web1", fleet)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("observe through %s: %v", addr, err)
				}
				return
			}
			if err == nil {
				t.Fatal("an unpinned self-signed server was accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), ep.Token) {
				t.Error("token in the error")
			}
		})
	}
}
