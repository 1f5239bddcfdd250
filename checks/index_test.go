package checks

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kubepatrol/patrol/collectors/snapshot"
)

func TestSharedBuildsOncePerKey(t *testing.T) {
	ix := NewIndex(&snapshot.Snapshot{})
	type keyA struct{}
	type keyB struct{}
	var builds atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			m := Shared(ix, keyA{}, func() map[string]int {
				builds.Add(1)
				return map[string]int{"a": 1}
			})
			if m["a"] != 1 {
				t.Errorf("got %v", m)
			}
		})
	}
	wg.Wait()
	if n := Shared(ix, keyB{}, func() int { builds.Add(1); return 2 }); n != 2 {
		t.Errorf("keyB: got %d", n)
	}
	if n := builds.Load(); n != 2 {
		t.Errorf("%d builds, want 2 (one per key)", n)
	}
}

func TestSharedRepanics(t *testing.T) {
	ix := NewIndex(&snapshot.Snapshot{})
	type key struct{}
	for i := range 2 {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("call %d: no panic", i)
				}
			}()
			Shared(ix, key{}, func() int { panic("boom") })
		}()
	}
}
