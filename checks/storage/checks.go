// Package storage holds the checks over PersistentVolumeClaims,
// PersistentVolumes and StorageClasses.
package storage

import "github.com/kubepatrol/patrol/checks"

// Checks lists the storage checks.
func Checks() []checks.Check {
	return []checks.Check{PVCPending, PVFailed}
}
