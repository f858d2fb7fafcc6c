package sandbox

import (
	"slices"
	"strconv"
	"strings"
)

func resellerFunctions() map[string]function {
	return map[string]function{
		"setupreseller":     {h: fnSetupReseller, acl: "all", root: true},
		"unsetupreseller":   {h: fnUnsetupReseller, acl: "all", root: true},
		"listresellers":     {h: fnListResellers, acl: "all", root: true},
		"setacls":           {h: fnSetACLs, acl: "all", root: true},
		"saveacllist":       {h: fnSaveACLList, acl: "all", root: true},
		"listacls":          {h: fnListACLs, acl: "all", root: true},
		"setresellerlimits": {h: fnSetResellerLimits, acl: "all", root: true},
		"acctcounts":        {h: fnAcctCounts},
	}
}

func notReseller(u string) error { return die("“%s” is not a reseller.", u) }

func fnSetupReseller(c *call) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	makeOwner, _, err := c.boolArg("makeowner")
	if err != nil {
		return nil, err
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			return false, noUser(user)
		}
		if a.ParentHost != "" {
			// A distributed reseller has no reseller privileges on the child.
			return false, die("“%s” is a distributed account: it cannot be a reseller on a child node.", user)
		}
		a.Reseller = true
		if makeOwner {
			a.Owner = user
		}
		return true, nil
	})
}

func fnUnsetupReseller(c *call) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			return false, noUser(user)
		}
		if !a.Reseller {
			return false, notReseller(user)
		}
		a.Reseller, a.ACLs, a.Limits = false, nil, resellerLimits{}
		delete(st.Tokens, user)
		if a.Owner == user {
			a.Owner = "root"
		}
		return true, nil
	})
}

func fnListResellers(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	out := []any{}
	for _, u := range c.n.st.sortedUsers() {
		if c.n.st.Accounts[u].Reseller {
			out = append(out, u)
		}
	}
	return map[string]any{"reseller": out}, nil
}

// aclArgs reads acl-NAME=1 arguments (unknown names are ignored, as a form would).
func (c *call) aclArgs() ([]string, error) {
	var acls []string
	for _, name := range allACLs {
		v, present, err := c.boolArg("acl-" + name)
		if err != nil {
			return nil, err
		}
		if present && v {
			acls = append(acls, name)
		}
	}
	return acls, nil
}

func fnSetACLs(c *call) (any, error) {
	user := c.str("reseller")
	if user == "" {
		user = c.str("user")
	}
	if user == "" {
		// 11.120 Whostmgr/API/1/Resellers.pm setacls sets result 0 itself.
		return nil, fail("No reseller specified.")
	}
	// Any value of acl-NAME grants NAME; leaving it out takes it away (reference,
	// setacls: "any value adds that privilege … no value removes"; 11.120
	// Whostmgr/API/1/Resellers.pm setacls keeps every acl-* key whatever its value).
	var acls []string
	for _, name := range allACLs {
		if c.has("acl-" + name) {
			acls = append(acls, name)
		}
	}
	listName := c.str("acllist")
	var applied []string
	err := c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			return false, noUser(user)
		}
		if !a.Reseller {
			return false, notReseller(user)
		}
		if listName != "" {
			list, ok := st.ACLLists[listName]
			if !ok {
				return false, die("The ACL list “%s” does not exist.", listName)
			}
			acls = slices.Clone(list)
		}
		slices.Sort(acls)
		a.ACLs = acls
		applied = slices.Clone(acls)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if applied == nil {
		applied = []string{}
	}
	return map[string]any{"acl": applied}, nil
}

func fnSaveACLList(c *call) (any, error) {
	name, err := c.required("acllist")
	if err != nil {
		return nil, err
	}
	if !reTokenName.MatchString(name) {
		return nil, die("“%s” is not a valid ACL list name.", name)
	}
	acls, err := c.aclArgs()
	if err != nil {
		return nil, err
	}
	// The reference's sample reason: "ACL List my_acl_list saved."
	c.reason = "ACL List " + name + " saved."
	return nil, c.lock(func(st *nodeState) (bool, error) {
		st.ACLLists[name] = acls
		return true, nil
	})
}

func fnListACLs(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	// data.acl is an array of {name, privileges} (reference, listacls; 11.120
	// Whostmgr/API/1/ACLS.pm listacls). Sorted by name: the source's order is a
	// hash's, i.e. none.
	names := make([]string, 0, len(c.n.st.ACLLists))
	for name := range c.n.st.ACLLists {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]any, 0, len(names))
	for _, name := range names {
		list := c.n.st.ACLLists[name]
		m := map[string]int{}
		for _, acl := range listaclsPrivileges {
			if slices.Contains(list, acl) {
				m[acl] = 1
			} else {
				m[acl] = 0
			}
		}
		out = append(out, map[string]any{"name": name, "privileges": m})
	}
	return map[string]any{"acl": out}, nil
}

func fnSetResellerLimits(c *call) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	ints := map[string]*int{}
	for _, p := range []string{"account_limit", "bandwidth_limit", "diskspace_limit"} {
		s := strings.TrimSpace(c.str(p))
		if s == "" {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return nil, die("The “%s” parameter must be an unsigned integer, not “%s”.", p, s)
		}
		ints[p] = &v
	}
	bools := map[string]*bool{}
	for _, p := range []string{"enable_account_limit", "enable_resource_limits", "enable_overselling", "enable_overselling_bandwidth", "enable_overselling_diskspace", "enable_package_limits", "enable_package_limit_numbers"} {
		v, present, err := c.boolArg(p)
		if err != nil {
			return nil, err
		}
		if present {
			bools[p] = &v
		}
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		a := st.Accounts[user]
		if a == nil {
			return false, noUser(user)
		}
		if !a.Reseller {
			return false, notReseller(user)
		}
		l := &a.Limits
		if v := ints["account_limit"]; v != nil {
			l.AccountLimit = v
		}
		if v := ints["bandwidth_limit"]; v != nil {
			l.BandwidthLimit = v
		}
		if v := ints["diskspace_limit"]; v != nil {
			l.DiskspaceLimit = v
		}
		set := func(p string, dst *bool) {
			if v := bools[p]; v != nil {
				*dst = *v
			}
		}
		set("enable_account_limit", &l.EnableAccountLimit)
		set("enable_resource_limits", &l.EnableResource)
		set("enable_overselling", &l.EnableOverselling)
		set("enable_overselling_bandwidth", &l.OversellBandwidth)
		set("enable_overselling_diskspace", &l.OversellDiskspace)
		set("enable_package_limits", &l.EnablePackage)
		set("enable_package_limit_numbers", &l.EnablePackageNum)
		return true, nil
	})
}

func fnAcctCounts(c *call) (any, error) {
	user := c.str("user")
	if user == "" {
		user = c.user
	}
	if c.user != "root" && user != c.user {
		return nil, fail("Permission denied")
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	if user != "root" {
		a := c.n.st.Accounts[user]
		if a == nil || !a.Reseller {
			// 11.120 Whostmgr/API/1/Resellers.pm acctcounts sets result 0 itself.
			return nil, fail("Not a reseller.")
		}
	}
	active, suspended := 0, 0
	for _, a := range c.n.st.Accounts {
		if a.Owner != user || a.User == user {
			continue
		}
		if a.Suspended {
			suspended++
		} else {
			active++
		}
	}
	var limit any
	if user != "root" {
		if l := c.n.st.Accounts[user].Limits; l.EnableAccountLimit && l.AccountLimit != nil {
			limit = *l.AccountLimit
		}
	}
	return map[string]any{"reseller": map[string]any{"user": user, "active": active, "suspended": suspended, "limit": limit}}, nil
}
