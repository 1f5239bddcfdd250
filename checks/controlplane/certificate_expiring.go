package controlplane

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/checks/node"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// CertificateExpiring fires when the API server's serving certificate or
// the kubeconfig's client certificate expires soon (or has): kubeadm
// certificates last one year and, unrenewed, take the cluster down on the
// anniversary of its installation.
var CertificateExpiring = checks.New(checks.Meta{
	ID:    "controlplane.certificate_expiring",
	Title: "Control-plane certificate expiring",
	Description: "The API server's serving certificate or the kubeconfig's client certificate expires within the warning threshold (critical within the critical threshold, or already expired). " +
		"Expired control-plane certificates stop every client, kubelet and controller at once. Short-lived certificates that rotate automatically (valid for less than the warning threshold) are ignored.",
	Severity: checks.Warning,
	Requires: []snapshot.Kind{snapshot.KindControlPlane},
	LiveOnly: true,
	Params: []checks.Param{
		{Name: "warning", Type: checks.Duration, Default: "30d",
			Description: "remaining validity below which the check fires as a warning"},
		{Name: "critical", Type: checks.Duration, Default: "7d",
			Description: "remaining validity below which the check fires as critical"},
	},
	Remedy:   "On kubeadm clusters: kubeadm certs check-expiration, then kubeadm certs renew all on each control-plane node and restart the control-plane pods; renew the kubeconfig's client certificate too.",
	Priority: 60,
}, func(ctx context.Context, env *checks.Env) []checks.Finding {
	cp := env.Snap.ControlPlane
	if cp == nil {
		return nil
	}
	warn, crit := env.Params.Duration("warning"), env.Params.Duration("critical")
	type expiring struct {
		what string
		c    *snapshot.Certificate
		left time.Duration
	}
	var found []expiring
	var ev []checks.Evidence
	for _, x := range []struct {
		what string
		c    *snapshot.Certificate
	}{{"API server serving certificate", cp.ServingCert}, {"kubeconfig client certificate", cp.ClientCert}} {
		c := x.c
		if c == nil || c.NotAfter.IsZero() {
			continue
		}
		left := c.NotAfter.Sub(env.Now)
		if left >= warn {
			continue
		}
		if left > 0 && !c.NotBefore.IsZero() && c.NotAfter.Sub(c.NotBefore) <= warn {
			// Issued for less than the warning period: rotated by design.
			continue
		}
		found = append(found, expiring{x.what, c, left})
		ev = append(ev, checks.Evidence{Type: checks.EvField, Path: "notAfter", Value: c.NotAfter.Format(time.RFC3339),
			Message: fmt.Sprintf("%s %q issued by %q", x.what, c.Subject, c.Issuer), Source: c.Source, Time: at(c.NotAfter)})
	}
	if len(found) == 0 {
		return nil
	}
	worst := found[0]
	for _, e := range found[1:] {
		if e.left < worst.left {
			worst = e
		}
	}
	reason, sev := "CertificateExpiring", checks.Warning
	var msg string
	if worst.left <= 0 {
		reason, sev = "CertificateExpired", checks.Critical
		msg = fmt.Sprintf("the %s (%s) expired %s ago, on %s", worst.what, worst.c.Subject, node.Round(-worst.left), worst.c.NotAfter.Format(time.RFC3339))
	} else {
		if worst.left < crit {
			sev = checks.Critical
		}
		msg = fmt.Sprintf("the %s (%s) expires in %s, on %s", worst.what, worst.c.Subject, node.Round(worst.left), worst.c.NotAfter.Format(time.RFC3339))
	}
	if len(found) > 1 {
		o := found[0]
		if o == worst {
			o = found[1]
		}
		if o.left <= 0 {
			msg += fmt.Sprintf("; the %s expired %s ago", o.what, node.Round(-o.left))
		} else {
			msg += fmt.Sprintf("; the %s expires in %s", o.what, node.Round(o.left))
		}
	}
	ev = append(ev, checks.Evidence{Type: checks.EvThreshold, Path: "warning", Value: node.Round(warn),
		Message: "critical below " + node.Round(crit)})
	f := env.Finding(checks.ObjectRef{Kind: string(snapshot.KindCluster), Name: env.Snap.Cluster}, reason, msg, ev...)
	f.Severity = sev
	t := worst.c.NotAfter
	if worst.left <= 0 {
		f.Since = &t
	}
	return []checks.Finding{f}
})
