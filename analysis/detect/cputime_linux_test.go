//go:build linux

package detect

import (
	"syscall"
	"time"
)

// threadCPU is the calling thread's CPU time (user + system). Benchmarks
// lock their OS thread and report CPU time per point as well as wall time,
// because the figure that matters is points per second per core, and wall
// time on a shared machine counts other processes' time too.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
