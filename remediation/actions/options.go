package actions

import (
	"io"
	"log/slog"
	"time"
)

// DefaultComponent names kubepatrol on the objects it writes: the Events'
// source and reporting controller, and the field manager of its patches.
const DefaultComponent = "kubepatrol"

// Options configure the cluster actions.
type Options struct {
	// Logger receives one line per write and the drain progress; nil
	// discards.
	Logger *slog.Logger
	// Now is the clock for call times, Event times and the restartedAt
	// annotation; nil is time.Now.
	Now func() time.Time
	// Component is the Events' source component and reporting controller
	// and the field manager of patches; empty is DefaultComponent.
	Component string
	// Instance is the Events' reporting instance (e.g. the daemon's pod
	// name); it may be empty.
	Instance string
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Component == "" {
		o.Component = DefaultComponent
	}
	return o
}
