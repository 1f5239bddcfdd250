package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/remediation"
)

// Pager defaults (see PagerOptions).
const (
	// DefaultPagerTimeout bounds one attempt.
	DefaultPagerTimeout = 10 * time.Second
	// DefaultPagerMaxAttempts bounds the attempts of one Send.
	DefaultPagerMaxAttempts = 5
	// DefaultBackoffBase is the wait after the first failed attempt.
	DefaultBackoffBase = 500 * time.Millisecond
	// DefaultBackoffMax caps the doubling wait.
	DefaultBackoffMax = 30 * time.Second
	// DefaultMaxRetryAfter caps a server's Retry-After.
	DefaultMaxRetryAfter = 5 * time.Minute
)

// PagerOptions configure a pager.
type PagerOptions struct {
	// URL is where to POST; PagerDuty has a default, Slack and webhook
	// require it. A Slack or webhook URL is treated as a secret.
	URL string
	// RoutingKey is the PagerDuty integration key (a secret).
	RoutingKey string
	// Token is sent by the webhook pager as "Authorization: Bearer" (a
	// secret).
	Token string
	// Headers are extra request headers (webhook); their values are
	// treated as secrets.
	Headers map[string]string
	// ClientURL is PagerDuty's client_url (e.g. patrold's external URL).
	ClientURL string
	// Client sends the requests; nil is a client without a timeout of its
	// own (Timeout bounds each attempt).
	Client *http.Client
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one Send (default 5).
	MaxAttempts int
	// BackoffBase is the wait before the second attempt; it doubles with
	// each further attempt up to BackoffMax, with jitter (default 500ms,
	// 30s).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRetryAfter caps a server's Retry-After (default 5m).
	MaxRetryAfter time.Duration
	// Logger receives one line per failed attempt; nil discards.
	Logger *slog.Logger
	// Now stamps notices without a time; nil is time.Now.
	Now func() time.Time
	// Sleep waits between attempts and returns early with ctx's error;
	// nil is a timer. Tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a number in [0, 1); nil is math/rand/v2.
	Jitter func() float64
}

// sender posts JSON bodies with retries; the pagers share it.
type sender struct {
	typ     string
	url     string
	safeURL string
	headers http.Header
	secrets []string
	opt     PagerOptions
}

func newSender(typ string, opt PagerOptions, redactPath bool) (*sender, error) {
	if opt.Client == nil {
		opt.Client = &http.Client{}
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultPagerTimeout
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultPagerMaxAttempts
	}
	if opt.BackoffBase <= 0 {
		opt.BackoffBase = DefaultBackoffBase
	}
	if opt.BackoffMax <= 0 {
		opt.BackoffMax = DefaultBackoffMax
	}
	if opt.MaxRetryAfter <= 0 {
		opt.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Sleep == nil {
		opt.Sleep = sleepCtx
	}
	if opt.Jitter == nil {
		opt.Jitter = rand.Float64
	}
	s := &sender{typ: typ, url: opt.URL, opt: opt, headers: http.Header{}}
	u, err := url.Parse(opt.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Never echo the URL: for Slack it is the secret.
		return nil, fmt.Errorf("%s pager: URL is not an absolute http(s) URL", typ)
	}
	s.safeURL = redactURL(u, redactPath)
	s.secrets = append(s.secrets, opt.URL, opt.RoutingKey, opt.Token)
	if redactPath {
		// The whole path and each of its segments: a service may echo
		// any part of it.
		s.secrets = append(s.secrets, u.Path, strings.TrimPrefix(u.Path, "/"))
		s.secrets = append(s.secrets, strings.Split(u.Path, "/")...)
	}
	if u.RawQuery != "" {
		s.secrets = append(s.secrets, u.RawQuery)
	}
	if pw, ok := u.User.Password(); ok {
		s.secrets = append(s.secrets, pw)
	}
	s.headers.Set("Content-Type", "application/json")
	s.headers.Set("User-Agent", "kubepatrol")
	for k, v := range opt.Headers {
		s.headers.Set(k, v)
		s.secrets = append(s.secrets, v)
	}
	if opt.Token != "" {
		s.headers.Set("Authorization", "Bearer "+opt.Token)
	}
	// Longest first, so that no part of a longer secret survives the
	// replacement of a shorter one.
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
	return s, nil
}

// redactURL renders u without user info and query, and without its path
// when the path carries a secret (Slack's webhook URLs).
func redactURL(u *url.URL, redactPath bool) string {
	out := u.Scheme + "://" + u.Host
	switch {
	case redactPath && u.Path != "" && u.Path != "/":
		out += "/[REDACTED]"
	case !redactPath:
		out += u.Path
	}
	if u.RawQuery != "" {
		out += "?[REDACTED]"
	}
	return out
}

// redact removes every secret from s.
func (s *sender) redact(msg string) string {
	msg = strings.ReplaceAll(msg, s.url, s.safeURL)
	for _, secret := range s.secrets {
		if len(secret) >= 4 {
			msg = strings.ReplaceAll(msg, secret, "[REDACTED]")
		}
	}
	return msg
}

// pagerError is a failed attempt, its text free of secrets. It unwraps
// only to a context error, never to the transport error that may hold the
// URL.
type pagerError struct {
	msg        string
	retryAfter time.Duration
	ctxErr     error
}

// Error is the redacted message.
func (e *pagerError) Error() string { return e.msg }

// Unwrap is the context error that ended the attempt, if any.
func (e *pagerError) Unwrap() error { return e.ctxErr }

// statusError turns a non-success answer into an error: 429 and 5xx are
// retryable, anything else terminal. detail is the service's explanation.
func (s *sender) statusError(resp *http.Response, detail string) error {
	e := &pagerError{}
	e.msg = fmt.Sprintf("%s pager: POST %s: %s", s.typ, s.safeURL, resp.Status)
	if detail = strings.TrimSpace(detail); detail != "" {
		e.msg += ": " + s.redact(truncate(detail, 512))
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.opt.Now())
		return remediation.Retryable(e)
	}
	return e
}

// post sends body, retrying retryable failures, and returns the attempts
// made. ok decides whether an answer is a success and, if not, gives the
// service's explanation of it.
func (s *sender) post(ctx context.Context, body []byte, ok func(resp *http.Response, body []byte) (bool, string)) (int, error) {
	var last error
	for attempt := 1; ; attempt++ {
		err := s.once(ctx, body, ok)
		if err == nil {
			if attempt > 1 {
				s.opt.Logger.Info("page sent after retries", "pager", s.typ, "url", s.safeURL, "attempts", attempt)
			}
			return attempt, nil
		}
		last = err
		if ctx.Err() != nil {
			return attempt, fmt.Errorf("%s pager: gave up after %d attempt(s): %w (last error: %v)", s.typ, attempt, ctx.Err(), last)
		}
		if !remediation.IsRetryable(err) {
			return attempt, err
		}
		if attempt >= s.opt.MaxAttempts {
			return attempt, remediation.Retryable(fmt.Errorf("%s pager: gave up after %d attempt(s): %w", s.typ, attempt, err))
		}
		wait := s.backoff(attempt)
		var pe *pagerError
		if errors.As(err, &pe) && pe.retryAfter > 0 {
			wait = min(pe.retryAfter, s.opt.MaxRetryAfter)
		}
		s.opt.Logger.Warn("page attempt failed; retrying", "pager", s.typ, "url", s.safeURL,
			"attempt", attempt, "wait", wait, "err", err.Error())
		if err := s.opt.Sleep(ctx, wait); err != nil {
			return attempt, fmt.Errorf("%s pager: gave up after %d attempt(s): %w (last error: %v)", s.typ, attempt, err, last)
		}
	}
}

// backoff is the wait after attempt n: base·2^(n-1), capped, with "equal
// jitter" (half fixed, half random) so that retries of many senders
// spread out.
func (s *sender) backoff(n int) time.Duration {
	d := s.opt.BackoffBase
	for i := 1; i < n && d < s.opt.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.opt.BackoffMax)
	half := d / 2
	return half + time.Duration(s.opt.Jitter()*float64(d-half))
}

// once makes one attempt.
func (s *sender) once(ctx context.Context, body []byte, ok func(*http.Response, []byte) (bool, string)) error {
	actx, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return &pagerError{msg: fmt.Sprintf("%s pager: building request to %s: %s", s.typ, s.safeURL, s.redact(err.Error()))}
	}
	req.Header = s.headers.Clone()
	resp, err := s.opt.Client.Do(req)
	if err != nil {
		e := &pagerError{msg: fmt.Sprintf("%s pager: POST %s: %s", s.typ, s.safeURL, s.redact(transportMessage(err)))}
		if ctx.Err() != nil {
			e.ctxErr = ctx.Err()
			return e
		}
		return remediation.Retryable(e)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if good, detail := ok(resp, answer); !good {
		return s.statusError(resp, detail)
	}
	return nil
}

// transportMessage is a transport error's text without the request URL
// that *url.Error puts in it.
func transportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// checkNotice validates what every pager needs from a notice.
func checkNotice(typ string, n remediation.Notice) error {
	switch n.Action {
	case "trigger", "resolve":
	default:
		return fmt.Errorf("%s pager: notice action %q is not trigger or resolve", typ, n.Action)
	}
	if n.DedupKey == "" {
		return fmt.Errorf("%s pager: notice has no dedup key", typ)
	}
	return nil
}

// noticeTime is n.Time, or now when unset, in UTC.
func noticeTime(n remediation.Notice, now func() time.Time) time.Time {
	if n.Time.IsZero() {
		return now().UTC()
	}
	return n.Time.UTC()
}

// marshal encodes v as JSON without HTML escaping (the bodies go to APIs,
// not to HTML pages, and "<" stays readable in a Slack link).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
