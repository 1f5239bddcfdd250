package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// controlPlane reads /readyz?verbose and the certificates the client sees.
func controlPlane(ctx context.Context, cs *kubernetes.Clientset, cfg *rest.Config) (*snapshot.ControlPlane, []snapshot.Coverage) {
	cp := &snapshot.ControlPlane{}
	var cov []snapshot.Coverage
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "true").DoRaw(ctx)
	if b := string(body); strings.Contains(b, "[+]") || strings.Contains(b, "[-]") {
		cp.Readyz = ParseReadyz(string(body))
	}
	if err != nil && len(cp.Readyz) == 0 {
		reason, msg := classify(err)
		if reason == snapshot.Forbidden || reason == snapshot.Unauthorized || reason == snapshot.Unreachable || reason == snapshot.Timeout {
			cov = append(cov, snapshot.Coverage{Kind: snapshot.KindControlPlane, Reason: reason, Message: "/readyz: " + msg})
			return nil, cov
		}
		cp.ReadyzError = msg
	}
	if c, err := servingCert(ctx, cfg); err == nil {
		cp.ServingCert = c
	}
	if c, err := clientCert(cfg); err == nil && c != nil {
		cp.ClientCert = c
	}
	return cp, cov
}

// ParseReadyz parses the /readyz?verbose (or /livez?verbose) body:
// "[+]ping ok", "[-]etcd failed: reason withheld".
func ParseReadyz(body string) []snapshot.HealthCheck {
	var out []snapshot.HealthCheck
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "[+]"):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "[+]"), " ")
			out = append(out, snapshot.HealthCheck{Name: name, OK: true})
		case strings.HasPrefix(line, "[-]"):
			name, rest, _ := strings.Cut(strings.TrimPrefix(line, "[-]"), " ")
			out = append(out, snapshot.HealthCheck{Name: name, OK: false, Message: strings.TrimSpace(rest)})
		}
	}
	return out
}

// servingCert completes a TLS handshake with the API server and returns
// the leaf certificate it presents, valid or not.
func servingCert(ctx context.Context, cfg *rest.Config) (*snapshot.Certificate, error) {
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("not an https server: %q", cfg.Host)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	tcfg, err := rest.TLSConfigFor(cfg)
	if err != nil || tcfg == nil {
		tcfg = &tls.Config{}
	}
	tcfg = tcfg.Clone()
	tcfg.InsecureSkipVerify = true // only to read the certificate
	tcfg.VerifyPeerCertificate = nil
	d := tls.Dialer{Config: tcfg}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	state := conn.(*tls.Conn).ConnectionState()
	if len(state.PeerCertificates) == 0 {
		return nil, fmt.Errorf("no certificate presented")
	}
	return certOf(state.PeerCertificates[0], "apiserver serving certificate ("+host+")"), nil
}

// clientCert returns the kubeconfig's client certificate, if it uses one.
func clientCert(cfg *rest.Config) (*snapshot.Certificate, error) {
	data := cfg.TLSClientConfig.CertData
	src := "kubeconfig client certificate"
	if len(data) == 0 && cfg.TLSClientConfig.CertFile != "" {
		var err error
		if data, err = os.ReadFile(cfg.TLSClientConfig.CertFile); err != nil {
			return nil, err
		}
		src += " (" + cfg.TLSClientConfig.CertFile + ")"
	}
	if len(data) == 0 {
		return nil, nil
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("client certificate is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	return certOf(c, src), nil
}

func certOf(c *x509.Certificate, src string) *snapshot.Certificate {
	return &snapshot.Certificate{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(), DNSNames: c.DNSNames,
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Source: src,
	}
}
