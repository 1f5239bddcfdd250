package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/remediation"
	"github.com/kubepatrol/patrol/remediation/ledger"
)

// The environment variables that default the remediation commands' flags.
const (
	envLedger = "PATROL_LEDGER"
	envServer = "PATROL_SERVER"
	envToken  = "PATROL_TOKEN"
)

// evidenceSource says where records come from: a ledger opened directly,
// or a running patrold's HTTP API.
type evidenceSource struct {
	ledger string
	server string
	token  string
}

func (s *evidenceSource) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.ledger, "ledger", "", "the ledger to read: a SQLite file (sqlite:PATH or PATH) or postgres://… (default $"+envLedger+", else "+defaultLedger+")")
	s.registerServer(cmd)
}

func (s *evidenceSource) registerServer(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.server, "server", "", "patrold's base URL, e.g. http://patrold:8080 (default $"+envServer+")")
	f.StringVar(&s.token, "token", "", "bearer token for patrold's API (default $"+envToken+"; prefer it to the flag, which other users can see)")
}

const defaultLedger = "patrol-ledger.db"

// resolve applies the environment defaults: an explicit --ledger reads
// the ledger, otherwise a server (flag or environment) is used, otherwise
// the ledger from the environment or the default path.
func (s *evidenceSource) resolve(cmd *cobra.Command) error {
	ledgerSet, serverSet := cmd.Flags().Changed("ledger"), cmd.Flags().Changed("server")
	if ledgerSet && serverSet {
		return errors.New("give --ledger or --server, not both")
	}
	if s.token == "" {
		s.token = os.Getenv(envToken)
	}
	if ledgerSet {
		s.server = ""
		return nil
	}
	if s.server == "" {
		s.server = os.Getenv(envServer)
	}
	if s.server == "" && s.ledger == "" {
		s.ledger = os.Getenv(envLedger)
		if s.ledger == "" {
			s.ledger = defaultLedger
		}
	}
	return nil
}

// openLedger opens the ledger s names. A SQLite file must exist already:
// reading a ledger never creates one.
func (s *evidenceSource) openLedger(ctx context.Context) (*ledger.Ledger, string, error) {
	cfg := ledger.Config{Driver: ledger.DriverSQLite, Path: s.ledger}
	name := s.ledger
	switch {
	case strings.HasPrefix(s.ledger, "postgres://"), strings.HasPrefix(s.ledger, "postgresql://"):
		cfg = ledger.Config{Driver: ledger.DriverPostgres, DSN: s.ledger}
		name = redactDSN(s.ledger)
	case strings.HasPrefix(s.ledger, "sqlite:"):
		cfg.Path = strings.TrimPrefix(s.ledger, "sqlite:")
		name = cfg.Path
	}
	if cfg.Driver == ledger.DriverSQLite {
		if _, err := os.Stat(cfg.Path); err != nil {
			return nil, name, fmt.Errorf("ledger %s: %w (give --ledger PATH, set $%s, or read a running daemon with --server)", name, err, envLedger)
		}
	}
	l, err := ledger.Open(ctx, cfg)
	if err != nil {
		return nil, name, fmt.Errorf("ledger %s: %w", name, err)
	}
	return l, name, nil
}

// redactDSN hides a PostgreSQL URL's password in messages.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	return u.Redacted()
}

func evidenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Read the remediation evidence ledger: every decision, refusals and dry runs included",
		Long: `evidence reads the records patrold's remediation engine wrote: what triggered each
decision, the evidence and diagnosis it was based on, every guard's verdict, the
steps with their API calls, the verification and the pages.

It opens the ledger directly (--ledger, a SQLite file or a PostgreSQL URL) or
asks a running patrold (--server).`,
	}
	cmd.AddCommand(evidenceListCmd(g), evidenceShowCmd(g))
	return cmd
}

type evidenceListOpts struct {
	src      evidenceSource
	states   []string
	playbook string
	target   string
	limit    int
	output   string
}

func evidenceListCmd(g *globals) *cobra.Command {
	o := &evidenceListOpts{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List ledger records, newest first",
		Example: `  patrol evidence list --ledger /var/lib/patrold/ledger.db
  patrol evidence list --state awaiting_approval,refused --playbook node-not-ready
  patrol evidence list --server http://patrold:8080 --target Node/worker-4 -o json`,
		Args: cobra.NoArgs,
	}
	o.src.register(cmd)
	f := cmd.Flags()
	f.StringSliceVar(&o.states, "state", nil, "only records in these states (planned, refused, awaiting_approval, running, verifying, succeeded, escalated, failed, expired, closed)")
	f.StringVar(&o.playbook, "playbook", "", "only records of this playbook")
	f.StringVar(&o.target, "target", "", "only records about this object: Kind/name or Kind/namespace/name")
	f.IntVar(&o.limit, "limit", 50, "at most this many records (1..10000)")
	f.StringVarP(&o.output, "output", "o", "table", "output format: table|json")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("table", "json"))
	_ = cmd.RegisterFlagCompletionFunc("state", fixedCompletion(stateNames()...))
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.output != "table" && o.output != "json" {
			return fmt.Errorf("-o: unknown format %q (want table|json)", o.output)
		}
		if o.limit < 1 || o.limit > 10000 {
			return fmt.Errorf("--limit: want 1..10000, got %d", o.limit)
		}
		states, err := parseStates(o.states)
		if err != nil {
			return err
		}
		var target *checks.ObjectRef
		if o.target != "" {
			t, err := parseObject(o.target)
			if err != nil {
				return fmt.Errorf("--target: %w", err)
			}
			target = &t
		}
		if err := o.src.resolve(cmd); err != nil {
			return err
		}
		var recs []*ledger.Record
		if o.src.server != "" {
			c, err := newDaemonClient(o.src.server, o.src.token)
			if err != nil {
				return err
			}
			q := url.Values{"limit": {strconv.Itoa(o.limit)}}
			if len(states) > 0 {
				q.Set("state", strings.Join(o.states, ","))
			}
			if o.playbook != "" {
				q.Set("playbook", o.playbook)
			}
			if target != nil {
				q.Set("target", target.String())
			}
			var body struct {
				Records []*ledger.Record `json:"records"`
			}
			if err := c.getJSON(cmd.Context(), "/api/v1/evidence", q, &body); err != nil {
				return err
			}
			recs = body.Records
		} else {
			l, _, err := o.src.openLedger(cmd.Context())
			if err != nil {
				return err
			}
			defer l.Close()
			recs, err = l.List(cmd.Context(), ledger.Filter{States: states, Playbook: o.playbook, Target: target, Limit: o.limit})
			if err != nil {
				return err
			}
		}
		if recs == nil {
			recs = []*ledger.Record{}
		}
		if o.output == "json" {
			return writeJSON(g.stdout, map[string]any{"schema": ledger.RecordSchema, "records": recs})
		}
		if len(recs) == 0 {
			fmt.Fprintln(g.stderr, "no records match")
			return nil
		}
		return ledger.WriteTable(g.stdout, recs)
	}
	return cmd
}

func evidenceShowCmd(g *globals) *cobra.Command {
	var src evidenceSource
	var output string
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one record: as Markdown for a post-mortem (default) or as JSON",
		Long: `show prints one ledger record. ID may be shortened to any unique prefix of at
least 8 characters (the IDs patrol evidence list prints are).`,
		Example: `  patrol evidence show rec-06b7k2m0a3 > postmortem-evidence.md
  patrol evidence show rec-06b7k2m0a3 -o json --server http://patrold:8080`,
		Args: cobra.ExactArgs(1),
	}
	src.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "markdown", "output format: markdown|json")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("markdown", "json"))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := args[0]
		if output == "md" {
			output = "markdown"
		}
		if output != "markdown" && output != "json" {
			return fmt.Errorf("-o: unknown format %q (want markdown|json)", output)
		}
		if err := src.resolve(cmd); err != nil {
			return err
		}
		var rec *ledger.Record
		if src.server != "" {
			c, err := newDaemonClient(src.server, src.token)
			if err != nil {
				return err
			}
			rec, err = c.record(cmd.Context(), id)
			if err != nil {
				return err
			}
		} else {
			l, name, err := src.openLedger(cmd.Context())
			if err != nil {
				return err
			}
			defer l.Close()
			rec, err = l.Get(cmd.Context(), id)
			if err != nil {
				return recordError(err, id, "ledger "+name)
			}
		}
		if output == "json" {
			return writeJSON(g.stdout, rec)
		}
		return ledger.WriteMarkdown(g.stdout, rec)
	}
	return cmd
}

// recordError words a ledger lookup failure for on-call.
func recordError(err error, id, where string) error {
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		msg := fmt.Sprintf("no record %s in %s", id, where)
		if len(id) < ledger.MinPrefix {
			msg += fmt.Sprintf(" (a shortened ID needs at least %d characters)", ledger.MinPrefix)
		}
		return errors.New(msg)
	case errors.Is(err, ledger.ErrAmbiguous):
		return fmt.Errorf("ID prefix %s is ambiguous in %s: give more characters (%w)", id, where, err)
	}
	return err
}

func approveCmd(g *globals) *cobra.Command {
	var src evidenceSource
	var by string
	cmd := &cobra.Command{
		Use:   "approve ID",
		Short: "Approve the high-risk step a remediation record waits on (through patrold)",
		Long: `approve lets the step a record waits on run: the daemon that runs the remediation
engine records who approved it and when, then carries the step out. Approval
always goes through that daemon (--server), never straight to the ledger.`,
		Example: `  patrol approve rec-06b7k2m0a3 --server http://patrold:8080
  PATROL_SERVER=http://patrold:8080 PATROL_TOKEN=$(cat token) patrol approve rec-06b7k2m0a3 --by alice`,
		Args: cobra.ExactArgs(1),
	}
	src.registerServer(cmd)
	cmd.Flags().StringVar(&by, "by", "", "who approves, recorded in the ledger (default $USER@hostname)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id := args[0]
		if err := src.resolve(cmd); err != nil {
			return err
		}
		if src.server == "" {
			return fmt.Errorf("approve needs the daemon: give --server URL or set $%s (the engine that runs the step records the approval)", envServer)
		}
		if by == "" {
			by = defaultApprover()
		}
		c, err := newDaemonClient(src.server, src.token)
		if err != nil {
			return err
		}
		rec, err := c.approve(cmd.Context(), id, by)
		if err != nil {
			return err
		}
		step := "its step"
		for _, s := range rec.Steps {
			if s.ApprovedBy == by {
				step = "step " + s.Name + " (" + s.Action + ")"
			}
		}
		_, err = fmt.Fprintf(g.stdout, "%s: %s approved by %s; state %s (patrold carries it out now)\n", rec.ID, step, by, rec.State)
		return err
	}
	return cmd
}

// defaultApprover is $USER@hostname, or what of it is known.
func defaultApprover() string {
	name := os.Getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return name + "@" + h
	}
	return name
}

func pauseCmd(g *globals, pause bool) *cobra.Command {
	var src evidenceSource
	use, short, verb := "pause", "Pause remediation: patrold refuses every action until resumed (pages still go out)", "pause"
	if !pause {
		use, short, verb = "resume", "Resume remediation after patrol pause", "resume"
	}
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	src.registerServer(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := src.resolve(cmd); err != nil {
			return err
		}
		if src.server == "" {
			return fmt.Errorf("%s needs the daemon: give --server URL or set $%s", verb, envServer)
		}
		c, err := newDaemonClient(src.server, src.token)
		if err != nil {
			return err
		}
		var st remediation.Status
		if err := c.postJSON(cmd.Context(), "/api/v1/remediation/"+verb, nil, &st); err != nil {
			return err
		}
		return writeStatus(g.stdout, &st)
	}
	return cmd
}

// writeStatus prints the remediation status patrold answered with.
func writeStatus(w io.Writer, st *remediation.Status) error {
	state := "running: guards decide"
	if st.Paused {
		state = "paused: every action is refused (pages still go out)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "remediation %s\n", state)
	if st.Cluster != "" {
		fmt.Fprintf(&b, "cluster: %s\n", st.Cluster)
	}
	if st.DryRun {
		b.WriteString("dry run: remediation.dry_run is set, nothing is written\n")
	}
	enabled := 0
	for _, p := range st.Playbooks {
		if p.Enabled {
			enabled++
		}
	}
	fmt.Fprintf(&b, "playbooks: %d loaded, %d enabled\n", len(st.Playbooks), enabled)
	_, err := io.WriteString(w, b.String())
	return err
}

// daemonClient talks to patrold's remediation API.
type daemonClient struct {
	base  *url.URL
	token string
	hc    *http.Client
}

func newDaemonClient(server, token string) (*daemonClient, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server: want http(s)://host:port, got %q", server)
	}
	return &daemonClient{base: u, token: token, hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

// call makes one request; a non-2xx answer is an error that says what to
// do about it, carrying the status in httpError.
func (c *daemonClient) call(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach patrold at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("patrold at %s: reading the answer: %w", c.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	msg := strings.TrimSpace(string(b))
	he := &httpError{status: resp.StatusCode, body: msg}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		he.msg = fmt.Sprintf("patrold at %s refused the request (401 Unauthorized): give its approval token with --token or $%s", c.base, envToken)
	case http.StatusNotFound:
		if strings.HasPrefix(msg, "404 page not found") {
			he.msg = fmt.Sprintf("patrold at %s has no remediation API (%s %s: 404): is remediation.enabled set in its config?", c.base, method, path)
		}
	}
	if he.msg == "" {
		he.msg = fmt.Sprintf("patrold at %s: %s %s: %s: %s", c.base, method, path, resp.Status, msg)
	}
	return nil, he
}

// httpError is a non-2xx answer from patrold.
type httpError struct {
	status int
	body   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (c *daemonClient) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	b, err := c.call(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("patrold at %s: %s: unexpected answer: %w", c.base, path, err)
	}
	return nil
}

func (c *daemonClient) postJSON(ctx context.Context, path string, body, out any) error {
	b, err := c.call(ctx, http.MethodPost, path, nil, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("patrold at %s: %s: unexpected answer: %w", c.base, path, err)
	}
	return nil
}

// record reads one record, naming an unknown or ambiguous ID plainly.
func (c *daemonClient) record(ctx context.Context, id string) (*ledger.Record, error) {
	var rec ledger.Record
	err := c.getJSON(ctx, "/api/v1/evidence/"+url.PathEscape(id), nil, &rec)
	var he *httpError
	if errors.As(err, &he) {
		switch {
		case he.status == http.StatusNotFound && he.body != "" && !strings.HasPrefix(he.body, "404 page not found"):
			return nil, recordError(ledger.ErrNotFound, id, "the ledger of patrold at "+c.base.String())
		case he.status == http.StatusBadRequest && strings.Contains(he.body, ledger.ErrAmbiguous.Error()):
			return nil, fmt.Errorf("ID prefix %s is ambiguous at patrold %s: give more characters (%s)", id, c.base, he.body)
		}
	}
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// approve approves the record's waiting step; a record with none is an
// error that names its state.
func (c *daemonClient) approve(ctx context.Context, id, by string) (*ledger.Record, error) {
	var rec ledger.Record
	err := c.postJSON(ctx, "/api/v1/evidence/"+url.PathEscape(id)+"/approve", remediation.ApproveRequest{By: by}, &rec)
	var he *httpError
	if errors.As(err, &he) {
		switch he.status {
		case http.StatusConflict:
			state := "unknown"
			if r, err := c.record(ctx, id); err == nil {
				id, state = r.ID, string(r.State)
			}
			return nil, fmt.Errorf("nothing waits for approval in %s (state %s)", id, state)
		case http.StatusNotFound, http.StatusBadRequest:
			if _, rerr := c.record(ctx, id); rerr != nil {
				return nil, rerr
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// parseStates checks --state values against the ledger's states.
func parseStates(in []string) ([]ledger.State, error) {
	var out []ledger.State
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		known := false
		for _, k := range stateNames() {
			known = known || k == s
		}
		if !known {
			return nil, fmt.Errorf("--state: unknown state %q (want %s)", s, strings.Join(stateNames(), ", "))
		}
		out = append(out, ledger.State(s))
	}
	return out, nil
}

func stateNames() []string {
	return []string{string(ledger.Planned), string(ledger.Refused), string(ledger.AwaitingApproval), string(ledger.Running),
		string(ledger.Verifying), string(ledger.Succeeded), string(ledger.Escalated), string(ledger.Failed),
		string(ledger.Expired), string(ledger.Closed)}
}

// canonicalKind spells the kinds playbooks act on the way the API does,
// so that node/worker-1 finds Node/worker-1; other kinds stay as given.
func canonicalKind(k string) string {
	for _, c := range []string{"Node", "Namespace", "PersistentVolume", "Pod", "Deployment", "StatefulSet", "DaemonSet",
		"ReplicaSet", "Job", "CronJob", "PersistentVolumeClaim", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} {
		if strings.EqualFold(k, c) {
			return c
		}
	}
	return k
}

// parseObject parses Kind/name or Kind/namespace/name.
func parseObject(s string) (checks.ObjectRef, error) {
	p := strings.Split(s, "/")
	for _, x := range p {
		if x == "" {
			p = nil
		}
	}
	var ref checks.ObjectRef
	switch len(p) {
	case 2:
		ref = checks.ObjectRef{Kind: p[0], Name: p[1]}
	case 3:
		ref = checks.ObjectRef{Kind: p[0], Namespace: p[1], Name: p[2]}
	default:
		return ref, fmt.Errorf("want Kind/name or Kind/namespace/name (Node/worker-4, Pod/shop/db-0), got %q", s)
	}
	ref.Kind = canonicalKind(ref.Kind)
	return ref, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
