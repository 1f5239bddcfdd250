//go:build unix

package anomaly

import (
	"syscall"
	"time"
)

// processCPU is the process' CPU time (user + system, every thread): the
// benchmark's checks run on several workers.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
