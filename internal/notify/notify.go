// Package notify sends the watch daemon's notifications to chat and mail services
// through shoutrrr (Slack, Microsoft Teams, Matrix, Discord, Telegram, Mattermost,
// Google Chat, e-mail, ntfy, Gotify, a generic webhook and more), beside the fleet's
// generic JSON webhook (policy.notifyWebhook). A service is named by a URL holding its
// secret (slack://…, teams://…, matrix://…), so URLs come from the environment or a
// private file, never from the command line, and never appear in errors or logs.
package notify

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/tether-dev/tether/internal/redact"
)

// Message is what a notification says.
type Message struct {
	// Kind is failure, drift, refused, invalid or applied.
	Kind   string
	Commit string
	Text   string
}

// service is one configured destination. Its sender is made at the first send: some
// services log in when they are set up (Matrix with a user and password), and a chat
// server that is down at start must not stop the daemon.
type service struct {
	name    string // the URL's scheme: what errors and logs call it
	raw     string
	secrets []string
	sender  *router.ServiceRouter
}

// Notifier sends to every configured service.
type Notifier struct {
	mu       sync.Mutex
	services []*service
}

// ParseURLs splits a list of service URLs: one per line or separated by white space;
// empty lines and lines starting with # are left out.
func ParseURLs(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, strings.Fields(line)...)
	}
	return out
}

// New checks each URL names a service shoutrrr knows, without contacting it. An error
// names the service and the URL's position, never the URL.
func New(urls []string) (*Notifier, error) {
	n := &Notifier{}
	var r router.ServiceRouter
	for i, raw := range urls {
		name := scheme(raw)
		if _, err := url.Parse(raw); err != nil || name == "" {
			return nil, fmt.Errorf("notification URL %d: not a URL (want SERVICE://…, e.g. slack://, teams://, matrix://, generic+https://)", i+1)
		}
		if _, err := r.NewService(strings.SplitN(name, "+", 2)[0]); err != nil {
			return nil, fmt.Errorf("notification URL %d: %q is not a service shoutrrr knows (slack, teams, matrix, discord, telegram, mattermost, googlechat, smtp, ntfy, gotify, generic, …)", i+1, name)
		}
		n.services = append(n.services, &service{name: name, raw: raw, secrets: secretsOf(raw)})
	}
	return n, nil
}

// sender sets a service up once.
func (s *service) setUp() error {
	if s.sender != nil {
		return nil
	}
	sr, err := router.New(discard)
	if err == nil {
		err = sr.AddService(s.raw)
	}
	if err != nil {
		return err
	}
	sr.Timeout = sendTimeout
	s.sender = sr
	return nil
}

// sendTimeout bounds one service's delivery.
const sendTimeout = 10 * time.Second

var discard = log.New(io.Discard, "", 0)

// Services names the configured services, sorted (for the start-up log).
func (n *Notifier) Services() []string {
	var out []string
	for _, s := range n.services {
		out = append(out, s.name)
	}
	sort.Strings(out)
	return out
}

// Send delivers m to every service; the error joins those that failed, each named by
// its service, with the URL's secrets taken out.
func (n *Notifier) Send(m Message) error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	text := Format(m)
	var errs []error
	for _, s := range n.services {
		if err := s.setUp(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", s.name, scrub(err.Error(), s.secrets)))
			continue
		}
		params := types.Params{"title": Title(m)}
		for _, err := range s.sender.Send(text, &params) {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s", s.name, scrub(err.Error(), s.secrets)))
			}
		}
	}
	return errors.Join(errs...)
}

// Title is a notification's subject line.
func Title(m Message) string {
	t := "Tether: " + m.Kind
	if m.Commit != "" {
		t += " at " + m.Commit
	}
	return t
}

// Format is a notification's text: the title, then what happened.
func Format(m Message) string {
	return Title(m) + "\n" + m.Text
}

func scheme(raw string) string {
	if i := strings.Index(raw, "://"); i > 0 {
		return strings.ToLower(raw[:i])
	}
	return ""
}

// secretsOf lists the parts of a service URL that may be secret: all but its scheme
// (a Slack token sits in the user info, a Teams webhook's in its path, Matrix's
// password in the user info, a Telegram token in the user info, some in the query).
func secretsOf(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	if u.User != nil {
		out = append(out, u.User.Username())
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	for _, part := range strings.Split(u.Path, "/") {
		if len(part) >= 6 {
			out = append(out, part)
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 6 {
				out = append(out, v)
			}
		}
	}
	return out
}

// scrub takes every secret out of a message (longest first, so a URL goes whole).
func scrub(msg string, secrets []string) string {
	s := append([]string(nil), secrets...)
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	for _, v := range s {
		if v == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, v, "***")
		if esc := url.PathEscape(v); esc != v {
			msg = strings.ReplaceAll(msg, esc, "***")
		}
		if esc := url.QueryEscape(v); esc != v {
			msg = strings.ReplaceAll(msg, esc, "***")
		}
	}
	return redact.Text(msg)
}
