package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubepatrol/patrol/remediation"
)

var nodesGR = schema.GroupResource{Resource: "nodes"}

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retryable bool
		text      string
	}{
		{"not found", apierrors.NewNotFound(nodesGR, "n1"), false, "target not found"},
		{"forbidden", apierrors.NewForbidden(nodesGR, "n1", errors.New("rbac")), false, "check kubepatrol's RBAC"},
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Kind: "Node"}, "n1", field.ErrorList{field.Invalid(field.NewPath("spec"), 1, "bad")}), false, "rejected as invalid"},
		{"bad request", apierrors.NewBadRequest("nope"), false, "nope"},
		{"unauthorized", apierrors.NewUnauthorized("who"), false, "who"},
		{"conflict", apierrors.NewConflict(nodesGR, "n1", errors.New("modified")), true, "modified"},
		{"server timeout", apierrors.NewServerTimeout(nodesGR, "patch", 1), true, ""},
		{"gateway timeout", apierrors.NewTimeoutError("slow", 1), true, ""},
		{"too many requests", apierrors.NewTooManyRequests("slow down", 1), true, ""},
		{"internal error", apierrors.NewInternalError(errors.New("etcd")), true, "etcd"},
		{"service unavailable", apierrors.NewServiceUnavailable("down"), true, ""},
		{"502", apierrors.NewGenericServerResponse(502, "patch", nodesGR, "n1", "", 0, true), true, ""},
		{"connection refused", &url.Error{Op: "Patch", URL: "https://api", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, true, ""},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true, ""},
		{"unexpected EOF", io.ErrUnexpectedEOF, true, ""},
		{"deadline", context.DeadlineExceeded, true, ""},
		{"canceled", context.Canceled, false, ""},
		{"unknown", errors.New("something else"), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.err, "cordon Node/n1")
			if got := remediation.IsRetryable(err); got != tc.retryable {
				t.Errorf("retryable = %t, want %t (%v)", got, tc.retryable, err)
			}
			if !strings.HasPrefix(err.Error(), "cordon Node/n1: ") || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not name its subject or %q", err, tc.text)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("error does not wrap the original")
			}
		})
	}
	if classify(nil, "x") != nil {
		t.Error("classify(nil) != nil")
	}
}

// TestDoClassifiesAPIErrors proves the classification reaches the caller
// of Do.
func TestDoClassifiesAPIErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retryable bool
	}{
		{"conflict", apierrors.NewConflict(nodesGR, "n1", errors.New("modified")), true},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), true},
		{"forbidden", apierrors.NewForbidden(nodesGR, "n1", errors.New("rbac")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, fixtures()...)
			c.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.err })
			res, err := NewCordon(c, testOptions()).Do(t.Context(), request("Node", "", "n1", nil))
			if err == nil || remediation.IsRetryable(err) != tc.retryable {
				t.Fatalf("err = %v, retryable %t, want %t", err, remediation.IsRetryable(err), tc.retryable)
			}
			last := res.Calls[len(res.Calls)-1]
			if last.Verb != "patch" || last.Error == "" {
				t.Errorf("failed patch not recorded with its error: %+v", last)
			}
			if ev := c.events(t); len(ev) != 0 {
				t.Errorf("failed step emitted events: %v", ev)
			}
		})
	}
}

// TestScaleConflict: the scale's annotation patch pins the resourceVersion
// read from the scale subresource, so a change in between is a retryable
// 409 and nothing is scaled.
func TestScaleConflict(t *testing.T) {
	c := newFakeCluster(t, fixtures()...)
	c.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		_, obj, err := c.react(k8stesting.ObjectReaction(c.Tracker()), a)
		obj.(interface{ SetResourceVersion(string) }).SetResourceVersion("299") // someone else wrote since
		return true, obj, err
	})
	_, err := NewScale(c, testOptions()).Do(t.Context(), request("Deployment", "default", "api", map[string]string{"replicas": "5"}))
	if err == nil || !remediation.IsRetryable(err) || !apierrors.IsConflict(err) {
		t.Fatalf("err = %v, want a retryable conflict", err)
	}
	wantReplicasUnchanged(t, c, "api", 3)
}

func wantReplicasUnchanged(t *testing.T, c *fakeCluster, name string, want int32) {
	t.Helper()
	obj, err := c.Tracker().Get(appsGVR["deployments"], "default", name)
	if err != nil {
		t.Fatal(err)
	}
	if got := specReplicas(obj.(*deploymentT)); got != want {
		t.Errorf("replicas = %d, want %d", got, want)
	}
}
