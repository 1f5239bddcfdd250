// Command etcd is etcd's own main, built from the Go module proxy at the
// version pinned in go.mod, for kubepatrol's local e2e control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
