package whmapi

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// UAPI functions run through WHM API 1's uapi_cpanel (reference "Run UAPI function
// through WHM API", 11.138.0.6; 11.120 Whostmgr/API/1/Cpanel.pm): the answer is
// {uapi: RESULT}, RESULT being the UAPI function's own result. metadata.result says
// only that the function ran; whether it succeeded is data.uapi.status, and why not
// is data.uapi.errors. The reference recommends uapi_cpanel over the older cpanel
// function, and it works inside batch, which observing many accounts needs.

// uapiName is the name the reference's composite rows use for a UAPI function run
// through uapi_cpanel (testdata/whm/reference/responses-added.tsv), and the name
// errors give it.
func uapiName(module, function string) string {
	return "uapi_cpanel " + module + "::" + function
}

// forwardersName names Email::list_forwarders' data.
var forwardersName = uapiName("Email", "list_forwarders")

// forwardersCommand is the batch command of Email::list_forwarders for user's
// domain: commandQuery("uapi_cpanel", uapiParams(user, "Email", "list_forwarders",
// domain=DOMAIN)) byte for byte (the parameters in key order, escaped as
// url.QueryEscape does), written straight into one string. A 100k plan reads tens
// of thousands of accounts' forwarders: two maps, a sort and a builder each.
func forwardersCommand(user, domain string) string {
	const (
		head = "uapi_cpanel?cpanel.function=list_forwarders&cpanel.module=Email&cpanel.user="
		mid  = "&domain="
	)
	var b strings.Builder
	b.Grow(len(head) + len(mid) + (len(user)+len(domain))*5/4)
	b.WriteString(head)
	writeQueryEscape(&b, user)
	b.WriteString(mid)
	writeQueryEscape(&b, domain)
	return b.String()
}

// uapiParams builds uapi_cpanel's parameters.
func uapiParams(user, module, function string, params url.Values) url.Values {
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	q.Set("cpanel.user", user)
	q.Set("cpanel.module", module)
	q.Set("cpanel.function", function)
	return q
}

// uapiStatus is what every UAPI result carries (data.uapi.status, data.uapi.errors).
type uapiStatus struct {
	Errors []string `json:"errors"`
	Status FlexInt  `json:"status"`
}

func (c *Client) uapiError(module, function string, s uapiStatus) error {
	if s.Status.Valid && s.Status.N == 1 {
		return nil
	}
	reason := strings.Join(s.Errors, "; ")
	if reason == "" {
		reason = "the UAPI function failed without saying why"
	}
	return &APIError{Node: c.node, Function: uapiName(module, function), Reason: c.redact(reason)}
}

// UAPICall runs a UAPI function that changes something, as user, and fails when the
// function reports a failure. Its data is not read.
func (c *Client) UAPICall(ctx context.Context, kind Kind, user, module, function string, params url.Values) error {
	env, err := c.Call(ctx, kind, "uapi_cpanel", uapiParams(user, module, function, params), nil)
	if err != nil {
		return err
	}
	var d struct {
		UAPI uapiStatus `json:"uapi"`
	}
	if err := c.Decode(env, uapiName(module, function), &d); err != nil {
		return err
	}
	return c.uapiError(module, function, d.UAPI)
}

// Forwarder is one row of UAPI Email::list_forwarders (cPanel's UAPI reference,
// "Return domain's forwarders"): mail to Dest goes to Forward.
type Forwarder struct {
	Dest    string `json:"dest"`
	Forward string `json:"forward"`
}

type forwardersResult struct {
	UAPI struct {
		Errors []string    `json:"errors"`
		Status FlexInt     `json:"status"`
		Data   []Forwarder `json:"data"`
	} `json:"uapi"`
}

// ForwardersRequest names one account's domain whose forwarders are read.
type ForwardersRequest struct {
	User, Domain string
}

// Forwarders reads the forwarders of several accounts' domains in one batch request
// (Email::list_forwarders needs the domain). The parent answers for a distributed
// account by asking its mail child. A request the server answers with a failure
// gets its error at its index.
func (c *Client) Forwarders(ctx context.Context, reqs []ForwardersRequest) ([][]Forwarder, []error, error) {
	out := make([][]Forwarder, len(reqs))
	errs := make([]error, len(reqs))
	if len(reqs) == 0 {
		return out, errs, nil
	}
	// Each result's data is decoded straight into its own forwardersResult in the
	// batch's one pass (ReadBatch).
	results := make([]forwardersResult, len(reqs))
	reads := make([]BatchRead, len(reqs))
	for i, r := range reqs {
		reads[i] = BatchRead{Function: "uapi_cpanel", DataName: forwardersName, command: forwardersCommand(r.User, r.Domain), Out: &results[i]}
	}
	berrs, err := c.ReadBatch(ctx, reads)
	if err != nil {
		return nil, nil, fmt.Errorf("forwarders: %w", err)
	}
	for i := range reqs {
		if berrs[i] != nil {
			errs[i] = berrs[i]
			continue
		}
		d := &results[i]
		if err := c.uapiError("Email", "list_forwarders", uapiStatus{Errors: d.UAPI.Errors, Status: d.UAPI.Status}); err != nil {
			errs[i] = err
			continue
		}
		out[i] = d.UAPI.Data
	}
	return out, errs, nil
}
