package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestClassify(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	for _, tc := range []struct {
		name string
		err  error
		want snapshot.CoverageReason
	}{
		{"forbidden", apierrors.NewForbidden(gr, "", errors.New(`User "x" cannot list resource "pods"`)), snapshot.Forbidden},
		{"unauthorized", apierrors.NewUnauthorized("token expired"), snapshot.Unauthorized},
		{"not served", apierrors.NewNotFound(gr, ""), snapshot.NotServed},
		{"deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), snapshot.Timeout},
		{"server timeout", apierrors.NewTimeoutError("slow", 1), snapshot.Timeout},
		{"refused", &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, snapshot.Unreachable},
		{"other", apierrors.NewInternalError(errors.New("etcdserver: leader changed")), snapshot.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := classify(tc.err); got != tc.want {
				t.Errorf("classify(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

func TestParseReadyz(t *testing.T) {
	body := "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]informer-sync ok\n[-]poststarthook/rbac/bootstrap-roles failed: not finished\nreadyz check failed\n"
	got := ParseReadyz(body)
	if len(got) != 5 {
		t.Fatalf("got %d checks: %+v", len(got), got)
	}
	if got[2] != (snapshot.HealthCheck{Name: "etcd", OK: false, Message: "failed: reason withheld"}) {
		t.Errorf("etcd = %+v", got[2])
	}
	if !got[0].OK || got[4].Name != "poststarthook/rbac/bootstrap-roles" || got[4].OK {
		t.Errorf("parsed %+v", got)
	}
}
