package daemon

import (
	"context"
	"os"
	"time"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/rules"
)

// watchConfig reloads the config on request (SIGHUP through
// Options.Reload) and when the file's modification time or size changes
// (polled, so it works on ConfigMap volumes without inotify).
func (d *Daemon) watchConfig(ctx context.Context) {
	poll := d.opt.ReloadPoll
	if poll == 0 {
		poll = 10 * time.Second
	}
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	last := fileStamp(d.opt.ConfigFile)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.opt.Reload:
			last = fileStamp(d.opt.ConfigFile)
			_ = d.Reload()
		case <-tick:
			if s := fileStamp(d.opt.ConfigFile); s != last {
				last = s
				d.log.Info("config file changed; reloading", "path", d.opt.ConfigFile)
				_ = d.Reload()
			}
		}
	}
}

type stamp struct {
	mod  time.Time
	size int64
}

func fileStamp(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{fi.ModTime(), fi.Size()}
}

// Reload re-reads the config file and applies it all or nothing: a file
// that does not load, fails validation or changes a setting that needs a
// restart leaves the running config in place. The outcome is exported as
// patrol_config_last_reload_successful and
// patrol_config_last_reload_success_timestamp_seconds.
func (d *Daemon) Reload() error {
	cur := d.cfg.Load()
	next, err := LoadConfig(d.opt.ConfigFile)
	if err == nil {
		d.applyOverrides(next.File)
		err = restartOnly(cur.File, next.File)
	}
	if err != nil {
		d.metrics.ReloadOK.Set(0)
		d.log.Error("config reload failed; keeping the running config", "path", d.opt.ConfigFile, "err", err)
		return err
	}
	if d.remediation != nil {
		if err := d.remediation.engine.SetPlaybooks(next.Playbooks); err != nil {
			d.metrics.ReloadOK.Set(0)
			d.log.Error("config reload failed; keeping the running config", "path", d.opt.ConfigFile, "err", err)
			return err
		}
	}
	d.cfg.Store(next)
	d.metrics.ReloadOK.Set(1)
	d.metrics.ReloadTime.Set(float64(d.clock.Now().Unix()))
	d.metrics.initGroups(d.cluster, next.Groups)
	d.events.configure(next.File.Events.RatePerMinute, next.File.Events.Burst)
	enabled := map[string]bool{}
	for _, c := range next.Settings.Checks {
		enabled[c.Meta().ID] = true
	}
	d.mu.Lock()
	d.life = analysis.Retain(d.life, func(id string) bool { return enabled[id] })
	d.mu.Unlock()
	select {
	case d.reloadCh <- struct{}{}:
	default:
	}
	d.log.Info("config reloaded", "path", d.opt.ConfigFile, "groups", len(next.Groups), "checks", len(next.Settings.Checks))
	return nil
}

// applyOverrides applies the command-line flags and the derived cluster
// name to a freshly loaded config, so that a reload compares like with
// like.
func (d *Daemon) applyOverrides(f *rules.DaemonConfig) {
	if d.opt.Listen != "" {
		f.Listen = d.opt.Listen
	}
	if d.opt.Kubeconfig != "" {
		f.Kubeconfig, f.InCluster = d.opt.Kubeconfig, false
	}
	if f.Cluster == "" {
		f.Cluster = d.cluster
	}
}
