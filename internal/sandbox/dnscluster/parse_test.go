package dnscluster

import (
	"fmt"
	"html"
	"regexp"
	"strconv"
)

// ParseStatus reads /scripts7/clusterstatus using only the markup UNCONFIRMED.md
// promises (the data-* attributes), the way a provider should. It lives in a test so
// the contract is exercised without the sandbox exporting a client.
func ParseStatus(page string) (Config, error) {
	head := regexp.MustCompile(`<div id="clusterstatus" data-enabled="([01])" data-threshold="(\d+)" data-notify="([01])">`).FindStringSubmatch(page)
	if head == nil {
		return Config{}, fmt.Errorf("no cluster status in page")
	}
	th, _ := strconv.Atoi(head[2])
	c := Config{Enabled: head[1] == "1", Threshold: th, Notify: head[3] == "1", Members: map[string]*Member{}}
	row := regexp.MustCompile(`<tr class="clusterserver"((?: data-[a-z]+="[^"]*")+)>`)
	attr := regexp.MustCompile(` data-([a-z]+)="([^"]*)"`)
	for _, r := range row.FindAllStringSubmatch(page, -1) {
		a := map[string]string{}
		for _, kv := range attr.FindAllStringSubmatch(r[1], -1) {
			a[kv[1]] = html.UnescapeString(kv[2])
		}
		f, err := strconv.Atoi(a["failures"])
		if err != nil {
			return Config{}, fmt.Errorf("member %s: failures %q", a["host"], a["failures"])
		}
		c.Members[a["host"]] = &Member{Host: a["host"], User: a["user"], Module: a["module"], Role: a["role"],
			Disabled: a["disabled"] == "1", Failures: f}
	}
	return c, nil
}
