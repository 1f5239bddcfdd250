package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubepatrol/patrol/remediation"
)

// classify wraps err with its subject ("cordon Node/kwok-node-3") and marks
// it retryable when trying again may succeed: conflicts, server timeouts,
// throttling, server errors and network errors. A missing target, Forbidden,
// Invalid and anything unknown are terminal. nil stays nil.
func classify(err error, subject string) error {
	if err == nil {
		return nil
	}
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: target not found (deleted since the decision?): %w", subject, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: forbidden (check kubepatrol's RBAC): %w", subject, err)
	case apierrors.IsInvalid(err):
		return fmt.Errorf("%s: rejected as invalid: %w", subject, err)
	}
	wrapped := fmt.Errorf("%s: %w", subject, err)
	if retryableAPIError(err) {
		return remediation.Retryable(wrapped)
	}
	return wrapped
}

// retryableAPIError reports whether err is a failure of the API server or
// the network that may pass: 409, 429, 500, 502, 503, 504, a server or
// client timeout, a refused or reset connection, an unexpected EOF.
func retryableAPIError(err error) bool {
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case apierrors.IsConflict(err),
		apierrors.IsServerTimeout(err),
		apierrors.IsTimeout(err),
		apierrors.IsTooManyRequests(err),
		apierrors.IsInternalError(err),
		apierrors.IsServiceUnavailable(err),
		apierrors.IsUnexpectedServerError(err):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		switch status.Status().Code {
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}
