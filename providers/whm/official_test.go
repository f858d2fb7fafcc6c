package whm

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// The official function list (testdata/whm/functions.tsv) as a check on calls: every
// request the provider makes in a test (recorded through whmapi.Options.OnCall, and
// by the recorded-response server) must name a known function, send only listed
// parameters and every required one. The DNS-cluster screens are checked against
// cPanel's source instead (screens_test.go).

// officialFunctions maps a function to its parameters (name → required).
var officialFunctions = sync.OnceValues(func() (map[string]map[string]bool, error) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "whm", "functions.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]map[string]bool{}
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 3 {
			continue
		}
		if out[cols[0]] == nil {
			out[cols[0]] = map[string]bool{}
		}
		if cols[1] != "" {
			out[cols[0]][cols[1]] = cols[2] == "yes"
		}
	}
	return out, sc.Err()
})

// checkOfficial reports what is wrong with a call against the official list.
func checkOfficial(function string, params url.Values) []string {
	fns, err := officialFunctions()
	if err != nil {
		return []string{err.Error()}
	}
	for _, cgi := range ClusterCGIs {
		if function == cgi {
			return nil
		}
	}
	known, ok := fns[function]
	if !ok {
		return []string{fmt.Sprintf("function %s is not in the official list", function)}
	}
	var bad []string
	if function == "uapi_cpanel" {
		// The UAPI function's parameters go alongside uapi_cpanel's own.
		bad = checkUAPI(params, known)
	}
	for k := range params {
		if strings.HasPrefix(k, "api.") || function == "uapi_cpanel" {
			continue
		}
		if _, ok := known[k]; !ok {
			bad = append(bad, fmt.Sprintf("%s: parameter %s is not in the official list", function, k))
		}
	}
	for k, req := range known {
		// removeacct lists both username (required) and user; the doc says either.
		if req && params.Get(k) == "" {
			bad = append(bad, fmt.Sprintf("%s: required parameter %s missing", function, k))
		}
	}
	sort.Strings(bad)
	return bad
}
