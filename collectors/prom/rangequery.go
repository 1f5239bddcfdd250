package prom

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// MaxRangePoints is the most points per series a range query may ask for:
// Prometheus refuses more than 11,000 ("exceeded maximum resolution").
const MaxRangePoints = 11000

// QueryRange evaluates one PromQL expression over [start, end] at step
// against the Prometheus at opt.URL (with opt's credentials, TLS settings,
// headers and timeout; Matchers, Jobs, Lookback and the signals are not
// used: expr is sent as written). It returns one series per label set,
// samples oldest first, Source "prometheus" and Type gauge; Name is the
// result's __name__ label (empty for an expression that aggregates or
// computes, which drops it).
//
// Errors name the cause as the collectors' coverage does: a refused or
// unreachable server, credentials (Unauthorized, Forbidden), a timeout,
// or the server's own message for a bad expression
// (bad_data: parse error …).
func QueryRange(ctx context.Context, opt Options, expr string, start, end time.Time, step time.Duration) ([]snapshot.Series, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("empty PromQL expression")
	}
	if step <= 0 {
		return nil, fmt.Errorf("step %s: must be positive", step)
	}
	if !end.After(start) {
		return nil, fmt.Errorf("range %s to %s: the end must be after the start", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	if n := end.Sub(start)/step + 1; n > MaxRangePoints {
		return nil, fmt.Errorf("range %s at step %s is %d points per series; Prometheus allows %d: use a larger step", end.Sub(start), step, n, MaxRangePoints)
	}
	c, err := newCollector(opt)
	if err != nil {
		return nil, err
	}
	series, err := c.query(ctx, query{expr: expr, rng: true, start: start, end: end, step: step})
	if err != nil {
		reason, msg, _ := classify(err)
		return nil, fmt.Errorf("prometheus %s: %s: %s", c.url, reason, msg)
	}
	for i := range series {
		series[i].Source, series[i].Type = "prometheus", snapshot.Gauge
	}
	return series, nil
}
