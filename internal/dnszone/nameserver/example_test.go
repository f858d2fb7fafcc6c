package nameserver_test

import (
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/tether-dev/tether/internal/dnszone"
	"github.com/tether-dev/tether/internal/dnszone/nameserver"
)

// The sandbox's wiring in a few lines: an account's zone in a store, served on
// loopback, then its mail moved to a child, as distribution does.
func ExampleStart() {
	store := nameserver.NewMemStore(dnszone.NewAccountZone("alice.example", "192.0.2.10", []string{"ns1.web1.example"}))
	srv, err := nameserver.Start("127.0.0.1:0", store, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	_ = store.Update("alice.example", func(z *dnszone.Zone) error {
		z.SetMailTarget("198.51.100.7")
		return nil
	})

	m := new(dns.Msg)
	m.SetQuestion("mail.alice.example.", dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, srv.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Answer[0].(*dns.A).A)
	// Output: 198.51.100.7
}
