// Package pgtest starts a throwaway PostgreSQL server for tests: a fresh
// cluster (initdb) in a temporary directory, listening on 127.0.0.1 on a
// free port, with fsync off. It uses the server binaries installed on the
// machine (PATH, then /usr/lib/postgresql/*/bin) and never downloads one.
//
// When the test binary runs as root, initdb and postgres (which refuse to
// run as root) are started as the "postgres" user, and the temporary
// directory is handed to that user.
//
// Typical use, once per test binary:
//
//	func TestMain(m *testing.M) {
//		dsn, stop, err := pgtest.Start(context.Background())
//		... // errors.Is(err, pgtest.ErrNotInstalled): skip unless pgtest.Required()
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// RequireEnv names the environment variable that, when set to anything but
// empty, makes a missing PostgreSQL a test failure instead of a skip.
const RequireEnv = "KUBEPATROL_REQUIRE_POSTGRES"

// ErrNotInstalled: no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found")

// Database is the database Start creates; User owns it.
const (
	Database = "patrol"
	User     = "patrol"
)

// Required reports whether RequireEnv is set.
func Required() bool { return os.Getenv(RequireEnv) != "" }

// Start initialises and starts a server and creates Database. It returns
// the DSN of that database and a stop function that shuts the server down
// immediately and removes its directory. The server is also killed if the
// test binary dies (parent-death signal).
func Start(ctx context.Context) (dsn string, stop func(), err error) {
	bin, err := findBin()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	cred, err := credential(dir)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-A", "trust", "-U", User, "--no-sync", "-E", "UTF8", "--no-locale")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("pgtest: initdb: %w: %s", err, lastLines(out))
	}

	// The free port may be taken between the probe and the server's
	// bind; try a few.
	var srv *server
	for range 3 {
		port, perr := freePort()
		if perr != nil {
			cleanup()
			return "", nil, perr
		}
		srv, err = startServer(ctx, bin, dir, data, port, cred)
		if err == nil {
			break
		}
	}
	if err != nil {
		cleanup()
		return "", nil, err
	}
	stop = func() {
		srv.stop()
		cleanup()
	}
	admin := fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", User, srv.port)
	if err := exec1(ctx, admin, "CREATE DATABASE "+Database); err != nil {
		stop()
		return "", nil, fmt.Errorf("pgtest: create database: %w", err)
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, srv.port, Database), stop, nil
}

// WithSchema creates schema name in the database dsn names and returns a
// DSN whose search_path is that schema, so that each test gets empty tables
// without the cost of a new database.
func WithSchema(ctx context.Context, dsn, name string) (string, error) {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		return "", fmt.Errorf("pgtest: schema %q: want lower case letters, digits and _", name)
	}
	if err := exec1(ctx, dsn, "CREATE SCHEMA "+name); err != nil {
		return "", fmt.Errorf("pgtest: create schema %s: %w", name, err)
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + name, nil
}

// server is a running postmaster.
type server struct {
	cmd  *exec.Cmd
	port int
	done chan struct{}
}

// startServer starts postgres on port and waits until it accepts
// connections.
func startServer(ctx context.Context, bin, dir, data string, port int, cred *syscall.Credential) (*server, error) {
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("postgres-%d.log", port)))
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	if cred != nil {
		_ = logf.Chown(int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-p", strconv.Itoa(port),
		"-k", dir,
		"-F", "-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "synchronous_commit=off",
		"-c", "max_connections=100",
	)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Pdeathsig is set after the credential change, so it survives it:
	// a killed test binary takes its server with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s := &server{cmd: cmd, port: port, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	dsn := fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", User, port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := exec1(ctx, dsn, "SELECT 1")
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("pgtest: postgres exited: %s", lastLines(log))
		case <-ctx.Done():
			s.stop()
			return nil, fmt.Errorf("pgtest: wait for postgres: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("pgtest: postgres not ready after 30s: %w", err)
		}
	}
}

// stop shuts the server down the way `pg_ctl stop -m immediate` does
// (SIGQUIT to the postmaster), then kills it if it lingers.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// exec1 runs one statement on a fresh connection.
func exec1(ctx context.Context, dsn, stmt string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// findBin returns the directory holding initdb and postgres: the one on
// PATH, else the newest /usr/lib/postgresql/*/bin.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			dir := filepath.Dir(resolved)
			if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		_, e1 := os.Stat(filepath.Join(dir, "initdb"))
		_, e2 := os.Stat(filepath.Join(dir, "postgres"))
		if e1 == nil && e2 == nil {
			return dir, nil
		}
	}
	return "", ErrNotInstalled
}

// version reads the major version from /usr/lib/postgresql/<v>/bin.
func version(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// credential returns nil when the process is not root, else the postgres
// user's credential, after handing dir to that user.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root and %w: PostgreSQL refuses to run as root", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: postgres gid %q: %w", u.Gid, err)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lastLines keeps the tail of a tool's output for an error message.
func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}
