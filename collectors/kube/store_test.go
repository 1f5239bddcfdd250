package kube

import (
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kubepatrol/patrol/collectors/convert"
)

func podStore(in *interner) *directStore {
	return newDirectStore(func(obj any) (cached, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, errors.New("not a pod")
		}
		return in.compactPod(convert.Pod(p)), nil
	})
}

func storeNames(s *directStore) []string {
	keys := s.ListKeys()
	slices.Sort(keys)
	return keys
}

// TestDirectStore drives the store as the reflector does: a list, watch
// events, a relist; and checks what it holds after each.
func TestDirectStore(t *testing.T) {
	in := newInterner()
	s := podStore(in)
	if s.HasSynced() {
		t.Error("synced before the first list")
	}
	// The paged list hands over projected records, a relist whole objects.
	listed := in.compactPod(convert.Pod(pod("shop", "web-1", "n1", nil)))
	if err := s.Replace([]any{listed, pod("shop", "web-2", "n1", nil)}, "10"); err != nil {
		t.Fatal(err)
	}
	if !s.HasSynced() || !slices.Equal(storeNames(s), []string{"shop/web-1", "shop/web-2"}) {
		t.Fatalf("after the list: synced %v keys %v", s.HasSynced(), storeNames(s))
	}

	upd := pod("shop", "web-1", "n2", nil)
	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"add", func() error { return s.Add(pod("other", "web-1", "n1", nil)) }, []string{"other/web-1", "shop/web-1", "shop/web-2"}},
		{"update", func() error { return s.Update(upd) }, []string{"other/web-1", "shop/web-1", "shop/web-2"}},
		{"delete", func() error { return s.Delete(pod("shop", "web-2", "", nil)) }, []string{"other/web-1", "shop/web-1"}},
		{"delete a tombstone", func() error { return s.Delete(cache.DeletedFinalStateUnknown{Key: "other/web-1"}) }, []string{"shop/web-1"}},
		{"add if not present", func() error { return s.AddIfNotPresent(pod("shop", "web-1", "n3", nil)) }, []string{"shop/web-1"}},
		{"relist", func() error { return s.Replace([]any{pod("shop", "web-9", "n1", nil)}, "20") }, []string{"shop/web-9"}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := storeNames(s); !slices.Equal(got, st.want) {
			t.Errorf("%s: keys %v, want %v", st.name, got, st.want)
		}
		if st.name == "add if not present" {
			o, ok, _ := s.GetByKey("shop/web-1")
			if !ok || o.(*podRec).pod().NodeName != "n2" {
				t.Error("add if not present replaced the cached pod")
			}
		}
	}
	if _, ok, err := s.Get(pod("shop", "web-9", "", nil)); !ok || err != nil {
		t.Errorf("Get: %v %v", ok, err)
	}
	if err := s.Add("not a pod"); err == nil {
		t.Error("an object the projection refuses was stored")
	}

	popped := make(chan error, 1)
	go func() {
		_, err := s.Pop(func(any, bool) error { return nil })
		popped <- err
	}()
	select {
	case err := <-popped:
		t.Fatalf("Pop returned before Close: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	s.Close()
	s.Close()
	if err := <-popped; !errors.Is(err, cache.ErrFIFOClosed) {
		t.Errorf("Pop after Close: %v", err)
	}
}
