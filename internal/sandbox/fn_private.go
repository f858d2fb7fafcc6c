package sandbox

import (
	"encoding/json"
	"strings"
	"time"
)

// The PRIVATE_ functions are what nodes call on each other (always as root with
// api.persona=parent). The real server has functions of these names for linking; the
// account and mail ones stand for its pkgacct/restore/mail-sync machinery.
func privateFunctions() map[string]function {
	return map[string]function{
		"PRIVATE_set_as_child_node":   {h: fnSetAsChild, acl: "all", root: true},
		"PRIVATE_unset_as_child_node": {h: fnUnsetAsChild, acl: "all", root: true},
		"PRIVATE_createacct_child":    {h: fnCreateacctChild, acl: "all", root: true},
		"PRIVATE_mail_get":            {h: fnMailGet, acl: "all", root: true},
		"PRIVATE_mail_put":            {h: fnMailPut, acl: "all", root: true},
		"PRIVATE_end_sessions":        {h: fnEndSessions, acl: "all", root: true},
	}
}

func fnSetAsChild(c *call) (any, error) {
	parent, err := c.required("parent_hostname")
	if err != nil {
		return nil, err
	}
	parent = strings.ToLower(parent)
	return nil, c.lock(func(st *nodeState) (bool, error) {
		if st.ParentHost != "" && st.ParentHost != parent {
			return false, die("This server is already a child node of “%s”. A child node can have only one parent node.", st.ParentHost)
		}
		if len(st.Links) > 0 {
			return false, die("This server is a parent node: it cannot also be a child node.")
		}
		if st.ParentHost == parent {
			return false, nil
		}
		st.ParentHost = parent
		return true, nil
	})
}

func fnUnsetAsChild(c *call) (any, error) {
	parent, err := c.required("parent_hostname")
	if err != nil {
		return nil, err
	}
	expire, _, err := c.boolArg("expire_api_token")
	if err != nil {
		return nil, err
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		changed := false
		if strings.EqualFold(st.ParentHost, parent) {
			st.ParentHost = ""
			changed = true
		}
		if expire {
			for _, t := range st.Tokens[c.user] {
				if t.Hash == c.tokenHash && (t.ExpiresAt == 0 || t.ExpiresAt > time.Now().Unix()+86400) {
					t.ExpiresAt = time.Now().Unix() + 86400
					changed = true
				}
			}
		}
		return changed, nil
	})
}

func fnCreateacctChild(c *call) (any, error) {
	user, domain, err := newAccountArgs(c, false)
	if err != nil {
		return nil, err
	}
	err = c.lock(func(st *nodeState) (bool, error) {
		if st.ParentHost == "" {
			return false, die("This server is not a child node.")
		}
		if a := st.Accounts[user]; a != nil {
			if a.ParentHost != st.ParentHost {
				return false, die("The user “%s” already exists on this server.", user)
			}
			a.Domain, a.ContactEmail, a.Plan = domain, c.str("contactemail"), planOr(c.str("plan"))
			st.indexDomain(a)
			a.Suspended = false
			return true, nil
		}
		if other := st.accountByDomain(domain); other != nil {
			return false, die("The domain “%s” already belongs to “%s” on this server.", domain, other.User)
		}
		a := &account{
			User: user, Domain: domain, Owner: "root", Plan: planOr(c.str("plan")), ContactEmail: c.str("contactemail"),
			IP: st.IPv4, UID: st.NextUID, StartDate: time.Now().Unix(), FeatureList: "default", ParentHost: st.ParentHost,
		}
		st.Accounts[user] = a
		st.indexDomain(a)
		st.NextUID++
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	// The parent holds the account's zone; the child holds none.
	return nil, nil
}

func planOr(p string) string {
	if p == "" {
		return "default"
	}
	return p
}

func (c *call) childAccount(user string) (*account, error) {
	a := c.n.st.Accounts[user]
	if a == nil {
		return nil, die("The user “%s” does not exist.", user)
	}
	return a, nil
}

func fnMailGet(c *call) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	a, err := c.childAccount(user)
	if err != nil {
		return nil, err
	}
	// The account's forwarders travel with its mail: the conversion's mail-only
	// pkgacct archive (Cpanel/LinkedNode/Convert/ToDistributed/Mail.pm _pkgacct) does
	// not skip them.
	return map[string]any{"mailboxes": copyMailboxes(c.n.st.Mail[user]), "forwarders": copyForwarders(a.Forwarders)}, nil
}

func fnMailPut(c *call) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	raw, err := c.required("mailboxes")
	if err != nil {
		return nil, err
	}
	var boxes map[string]int
	if err := json.Unmarshal([]byte(raw), &boxes); err != nil {
		return nil, die("The “mailboxes” parameter is not valid JSON: %s", err.Error())
	}
	var fwds []forwarder
	if raw := c.str("forwarders"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &fwds); err != nil {
			return nil, die("The “forwarders” parameter is not valid JSON: %s", err.Error())
		}
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		a, err := c.childAccount(user)
		if err != nil {
			return false, err
		}
		st.Mail[user] = copyMailboxes(boxes)
		a.Forwarders = copyForwarders(fwds)
		return true, nil
	})
}

func fnEndSessions(c *call) (any, error) {
	user, err := c.required("user")
	if err != nil {
		return nil, err
	}
	return nil, c.lock(func(st *nodeState) (bool, error) {
		delete(st.Sessions, user)
		return true, nil
	})
}
