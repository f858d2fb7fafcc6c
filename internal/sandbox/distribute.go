package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// runTask runs a queued background task after TaskDelay, as queueprocd would. If the
// sandbox closes first, the task stays in the state and runs again after a restart.
func (n *node) runTask(t task) {
	n.sb.tasks.Add(1)
	go func() {
		defer n.sb.tasks.Done()
		select {
		case <-time.After(n.sb.opts.TaskDelay):
		case <-n.sb.ctx.Done():
			return
		}
		switch t.Kind {
		case "profile":
			n.mu.Lock()
			if t.Code != n.st.Profile || t.SetOptional {
				n.st.Profile = t.Code
				n.st.OptionalRoles = t.Optional
			}
			n.st.removeTask(t.ID)
			n.markDirty()
			n.mu.Unlock()
		case "distribution":
			err := n.distribute(n.sb.ctx, t)
			if n.sb.ctx.Err() != nil {
				return // closing: leave the task queued
			}
			n.mu.Lock()
			n.st.removeTask(t.ID)
			// As Cpanel/TaskProcessors/LinkedNode.pm does: the conversion is rolled back
			// (the account stays where it was), and the outcome goes to the server's
			// contacts as Accounts::Child{Distribution,Redistribution,Dedistribution}
			// {Success,Failure}. Nothing of it shows in any API answer.
			n.st.notify(conversionClass(t, err == nil), conversionText(t, err))
			if err != nil {
				n.sb.log.Warn("sandbox: distribution failed", "node", n.name, "user", t.User, "err", err)
			}
			n.markDirty()
			n.mu.Unlock()
		}
	}()
}

// conversionClass is the notification class of a finished move
// (Cpanel/TaskProcessors/LinkedNode.pm _report_conversion).
func conversionClass(t task, ok bool) string {
	sub := "ChildDistribution"
	switch {
	case t.To == "":
		sub = "ChildDedistribution"
	case t.From != "":
		sub = "ChildRedistribution"
	}
	if ok {
		return "Accounts::" + sub + "Success"
	}
	return "Accounts::" + sub + "Failure"
}

func conversionText(t task, err error) string {
	if err == nil {
		return fmt.Sprintf("The system changed the distribution of “%s” (%s → %s).", t.User, aliasOrLocal(t.From), aliasOrLocal(t.To))
	}
	return fmt.Sprintf("The system failed to change the distribution of “%s” (%s → %s): %s", t.User, aliasOrLocal(t.From), aliasOrLocal(t.To), err.Error())
}

func aliasOrLocal(a string) string {
	if a == "" {
		return ".local"
	}
	return a
}

// resumeTasks starts the tasks a previous run left queued.
func (n *node) resumeTasks() {
	n.mu.Lock()
	tasks := make([]task, 0, len(n.st.Tasks))
	for _, t := range n.st.Tasks {
		tasks = append(tasks, *t)
	}
	n.mu.Unlock()
	for _, t := range tasks {
		n.runTask(t)
	}
}

// errInjected is the half-way failure of a task under the FailTasks fault.
var errInjected = errors.New("the conversion failed after the mail was copied (injected fault)")

// distribute moves an account's mail between the parent and its children:
// ToDistributed (From "" → To), CrossDistributed (From → To) or FromDistributed
// (From → ""). Mail is copied first and removed from the source only after the copy
// succeeded; dedistribution leaves the child's copy and ends IMAP/POP3 sessions.
func (n *node) distribute(ctx context.Context, t task) error {
	n.mu.Lock()
	a := n.st.Accounts[t.User]
	if a == nil {
		n.mu.Unlock()
		return errors.New("the account no longer exists")
	}
	domain, email, plan := a.Domain, a.ContactEmail, a.Plan
	apiTokens := n.st.featureOn(a, "apitokens")
	parentMail := copyMailboxes(n.st.Mail[t.User])
	parentFwds := copyForwarders(a.Forwarders)
	parentIP := n.st.IPv4
	var from, to link
	if t.From != "" {
		l, ok := n.st.Links[t.From]
		if !ok {
			n.mu.Unlock()
			return fmt.Errorf("no node link with alias “%s” exists", t.From)
		}
		from = *l
	}
	if t.To != "" {
		l, ok := n.st.Links[t.To]
		if !ok {
			n.mu.Unlock()
			return fmt.Errorf("no node link with alias “%s” exists", t.To)
		}
		to = *l
	}
	n.mu.Unlock()
	failHalfway := n.currentFaults().FailTasks

	if t.To == "" { // FromDistributed
		boxes, fwds, err := n.childMail(ctx, from, t.User)
		if err != nil {
			return fmt.Errorf("copy mail from “%s”: %w", from.Alias, err)
		}
		if failHalfway || n.sb.hostFailsTasks(from.Hostname) {
			return errInjected
		}
		if _, err := n.callChild(ctx, from, "PRIVATE_end_sessions", url.Values{"user": {t.User}}); err != nil {
			return fmt.Errorf("end sessions on “%s”: %w", from.Alias, err)
		}
		n.mu.Lock()
		if a := n.st.Accounts[t.User]; a != nil {
			n.st.Mail[t.User] = boxes
			a.Forwarders = fwds
			delete(n.st.Sessions, t.User)
			a.MailNode = ""
			n.markDirty()
		}
		n.mu.Unlock()
		n.zoneMailTarget(domain, parentIP)
		return nil
	}

	// ToDistributed or CrossDistributed.
	if !apiTokens {
		return fmt.Errorf("the “apitokens” feature is disabled for “%s”: a distributed account needs API tokens", t.User)
	}
	childIP, err := n.createOnChild(ctx, to, t.User, domain, email, plan)
	if err != nil {
		return fmt.Errorf("create the account on “%s”: %w", to.Alias, err)
	}
	source, sourceFwds := parentMail, parentFwds
	if t.From != "" {
		if source, sourceFwds, err = n.childMail(ctx, from, t.User); err != nil {
			return fmt.Errorf("copy mail from “%s”: %w", from.Alias, err)
		}
	}
	enc, _ := json.Marshal(source)
	encFwds, _ := json.Marshal(sourceFwds)
	if _, err := n.callChild(ctx, to, "PRIVATE_mail_put", url.Values{"user": {t.User}, "mailboxes": {string(enc)}, "forwarders": {string(encFwds)}}); err != nil {
		return fmt.Errorf("copy mail to “%s”: %w", to.Alias, err)
	}
	if failHalfway || n.sb.hostFailsTasks(to.Hostname) {
		return errInjected
	}
	if t.From != "" {
		// CrossDistributed (Cpanel/LinkedNode/Convert/CrossDistributed/Mail.pm
		// _cleanup): the old child's mailbox connections end and its account becomes
		// an ordinary one; its mail stays where it is. A failure here is only a warning
		// there: the move is past its point of no return.
		if _, err := n.callChild(ctx, from, "PRIVATE_end_sessions", url.Values{"user": {t.User}}); err != nil {
			n.sb.log.Warn("sandbox: failed to terminate mailbox connections", "node", from.Alias, "user", t.User, "err", err)
		}
	}
	n.mu.Lock()
	if a := n.st.Accounts[t.User]; a != nil {
		if t.From == "" {
			delete(n.st.Mail, t.User)
			delete(n.st.Sessions, t.User)
			// The parent's calls for the account go to the child from now on.
			a.Forwarders = nil
		}
		a.MailNode = t.To
		n.markDirty()
	}
	n.mu.Unlock()
	n.zoneMailTarget(domain, childIP)
	return nil
}

// childMail reads an account's mailboxes and forwarders from a child.
func (n *node) childMail(ctx context.Context, l link, user string) (map[string]int, []forwarder, error) {
	res, err := n.callChild(ctx, l, "PRIVATE_mail_get", url.Values{"user": {user}})
	if err != nil {
		return nil, nil, err
	}
	var d struct {
		Mailboxes  map[string]int `json:"mailboxes"`
		Forwarders []forwarder    `json:"forwarders"`
	}
	if err := json.Unmarshal(res.Data, &d); err != nil {
		return nil, nil, fmt.Errorf("invalid mail listing: %w", err)
	}
	if d.Mailboxes == nil {
		d.Mailboxes = map[string]int{}
	}
	return d.Mailboxes, d.Forwarders, nil
}

func (sb *Sandbox) hostFailsTasks(host string) bool {
	t := sb.nodeByHost(host)
	return t != nil && t.currentFaults().FailTasks
}

// fnForceDedistribution forgets the child: synchronous, the child is not contacted, its
// data is lost, and DNS points back at the parent at once.
func fnForceDedistribution(c *call) (any, error) {
	alias, err := c.required("node_alias")
	if err != nil {
		return nil, err
	}
	users := c.list("user")
	if len(users) == 0 {
		return nil, missing("user")
	}
	type moved struct{ user, domain string }
	var done []moved
	var parentIP string
	err = c.lock(func(st *nodeState) (bool, error) {
		var non []string
		for _, u := range users {
			a := st.Accounts[u]
			if a == nil || a.MailNode != alias {
				non = append(non, u)
			}
		}
		if len(non) > 0 {
			return false, die("Non-user(s) of “%s”: %s", alias, strings.Join(non, ", "))
		}
		for _, u := range users {
			if st.pendingDistribution(u) != nil {
				return false, die("The system is changing the distribution of “%s”; try again when it finishes.", u)
			}
		}
		for _, u := range users {
			a := st.Accounts[u]
			a.MailNode = ""
			delete(st.Sessions, u)
			done = append(done, moved{u, a.Domain})
		}
		parentIP = st.IPv4
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	info := []any{}
	log := []any{}
	for _, m := range done {
		c.n.zoneMailTarget(m.domain, parentIP)
		info = append(info, map[string]any{"username": m.user})
		log = append(log, map[string]any{"type": "out", "indent": 0, "contents": fmt.Sprintf("Forgetting “%s”’s mail on “%s” and updating DNS for “%s” …", m.user, alias, m.domain)})
	}
	return map[string]any{"user_info": info, "log": log}, nil
}
