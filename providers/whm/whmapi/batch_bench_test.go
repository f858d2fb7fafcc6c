package whmapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tether-dev/tether/providers"
)

// parentAnswer is a parent's first batch as ReadNode asks it, with n accounts (a
// third distributed to a mail child), as the 100k fleet's parents answer it.
func parentAnswer(n int) string {
	var accts []string
	for i := range n {
		child := `[]`
		if i%3 == 0 {
			child = `[{"workload":"Mail","alias":"mail001-0"}]`
		}
		accts = append(accts, fmt.Sprintf(`{"user":"u%05d","domain":"u%05d.example.test","owner":"root","plan":"basic","email":"admin@u%05d.example.test","suspended":0,"ipv6":[],"child_nodes":%s}`, i, i, i, child))
	}
	return batchAnswer(
		okResult("version", `{"version":"11.118.0.5"}`),
		okResult("get_current_profile", `{"code":"STANDARD","name":"Standard","experimental":0,"optional_roles":[]}`),
		okResult("getminimumpasswordstrengths", `{"cpanel":65,"ftp":50,"mysql":50,"webdisk":50,"pop3":50}`),
		okResult("list_linked_server_nodes", `{"payload":[{"alias":"mail001-0","hostname":"mail001-0.test","username":"root","version":"11.118.0.5","enabled_services":["Mail"],"worker_capabilities":{"Mail":{}},"tls_verified":1,"last_check":1700000000}]}`),
		okResult("listaccts", `{"acct":[`+strings.Join(accts, ",")+`]}`),
		okResult("listresellers", `{"reseller":["res1","res2"]}`),
	)
}

// forwardersAnswer is one Forwarders batch of n accounts, each with a forwarder.
func forwardersAnswer(n int) string {
	var rs []string
	for i := range n {
		rs = append(rs, okResult("uapi_cpanel", fmt.Sprintf(`{"uapi":{"status":1,"errors":null,"messages":null,"warnings":null,"metadata":{"transformed":1},"data":[{"dest":"info@u%05d.example.test","forward":"admin@u%05d.example.test","html_dest":"info@u%05d.example.test","html_forward":"admin@u%05d.example.test","uri_dest":"info%%40u%05d.example.test","uri_forward":"admin%%40u%05d.example.test"}]}}`, i, i, i, i, i, i)))
	}
	return batchAnswer(rs...)
}

// memClient answers every request with body from memory: what is measured is
// Tether's reading and decoding of the answer, not the network's.
func memClient(b *testing.B, body string, contentLength bool) *Client {
	c, err := New("web1", providers.Endpoint{URL: "https://web1.test:2087", User: "root", Token: token}, Options{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
		n := int64(-1)
		if contentLength {
			n = int64(len(body))
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: n,
			Body: io.NopCloser(bytes.NewReader([]byte(body))), Request: r}, nil
	})})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkReadNodeParent is the read and decode of one parent's first batch of
// 500 accounts (the 100k fleet has 200 such parents), without and with a
// Content-Length.
func BenchmarkReadNodeParent(b *testing.B) {
	body := parentAnswer(500)
	for _, cl := range []bool{false, true} {
		b.Run(fmt.Sprintf("content-length=%v", cl), func(b *testing.B) {
			c := memClient(b, body, cl)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				_, lst, err := c.ReadNode(context.Background(), true)
				if err != nil || len(lst.Accts) != 500 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkForwarders200 is the read and decode of one Forwarders batch of 200
// accounts (the 100k plan makes about 170 of them).
func BenchmarkForwarders200(b *testing.B) {
	body := forwardersAnswer(200)
	reqs := make([]ForwardersRequest, 200)
	for i := range reqs {
		reqs[i] = ForwardersRequest{User: fmt.Sprintf("u%05d", i), Domain: fmt.Sprintf("u%05d.example.test", i)}
	}
	c := memClient(b, body, false)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rows, errs, err := c.Forwarders(context.Background(), reqs)
		if err != nil || errs[199] != nil || len(rows[199]) != 1 {
			b.Fatal(err, errs[199])
		}
	}
}
