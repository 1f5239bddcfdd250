package kube

import (
	"sync"

	"k8s.io/client-go/tools/cache"
)

// directStore is one kind's cache, and at the same time the queue of the
// client-go controller that fills it: the controller's reflector writes
// each list and watch result straight into it, projected, and nothing is
// ever popped. A shared informer would instead pass every object through a
// DeltaFIFO whose map keeps the size of the largest list for good (about
// 70 bytes per pod at 150,000 pods) and then into an indexer; nothing here
// registers event handlers, so neither is needed.
type directStore struct {
	project func(obj any) (cached, error)

	mu     sync.RWMutex
	items  map[string]cached
	synced bool

	closeOnce sync.Once
	closed    chan struct{}
}

var _ cache.Queue = (*directStore)(nil)

func newDirectStore(project func(obj any) (cached, error)) *directStore {
	return &directStore{project: project, items: map[string]cached{}, closed: make(chan struct{})}
}

// put projects obj (unless the paged list already did) and keys it.
func (s *directStore) put(obj any) (string, cached, error) {
	c, ok := obj.(cached)
	if !ok {
		var err error
		if c, err = s.project(obj); err != nil {
			return "", nil, err
		}
	}
	key, err := cache.MetaNamespaceKeyFunc(c)
	return key, c, err
}

// Add stores a created object.
func (s *directStore) Add(obj any) error {
	key, c, err := s.put(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.items[key] = c
	s.mu.Unlock()
	return nil
}

// Update stores a changed object.
func (s *directStore) Update(obj any) error { return s.Add(obj) }

// Delete forgets an object; obj may be a whole API object or a tombstone.
func (s *directStore) Delete(obj any) error {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.items, key)
	s.mu.Unlock()
	return nil
}

// List returns every cached object.
func (s *directStore) List() []any {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]any, 0, len(s.items))
	for _, c := range s.items {
		out = append(out, c)
	}
	return out
}

// ListKeys returns every key.
func (s *directStore) ListKeys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.items))
	for k := range s.items {
		out = append(out, k)
	}
	return out
}

// Get returns the cached object with obj's key.
func (s *directStore) Get(obj any) (any, bool, error) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return nil, false, err
	}
	return s.GetByKey(key)
}

// GetByKey returns the cached object with key.
func (s *directStore) GetByKey(key string) (any, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.items[key]
	if !ok {
		return nil, false, nil
	}
	return c, true, nil
}

// Replace swaps the whole content for a fresh list (a relist); the first
// one syncs the store.
func (s *directStore) Replace(list []any, _ string) error {
	items := make(map[string]cached, len(list))
	for _, obj := range list {
		key, c, err := s.put(obj)
		if err != nil {
			return err
		}
		items[key] = c
	}
	s.mu.Lock()
	s.items, s.synced = items, true
	s.mu.Unlock()
	return nil
}

// Resync does nothing: no handler wants periodic resyncs.
func (s *directStore) Resync() error { return nil }

// Pop blocks until the store is closed: the reflector has already applied
// every change.
func (s *directStore) Pop(cache.PopProcessFunc) (any, error) {
	<-s.closed
	return nil, cache.ErrFIFOClosed
}

// AddIfNotPresent stores obj unless its key is cached.
func (s *directStore) AddIfNotPresent(obj any) error {
	key, c, err := s.put(obj)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if _, ok := s.items[key]; !ok {
		s.items[key] = c
	}
	s.mu.Unlock()
	return nil
}

// HasSynced reports whether the first list has been stored.
func (s *directStore) HasSynced() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.synced
}

// Close ends Pop.
func (s *directStore) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

// Len returns how many objects are cached.
func (s *directStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.items)
}
