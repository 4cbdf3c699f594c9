package api

import (
	"context"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/toolforge-go/toolforge/internal/images"
)

// catalogue memoizes the image catalogue for a short while: every create
// and list needs it, and an admin's change may take ttl to show.
type catalogue struct {
	reader client.Reader
	ns     string
	ttl    time.Duration

	mu  sync.Mutex
	cat *images.Catalogue
	at  time.Time
}

func (c *catalogue) Get(ctx context.Context) (*images.Catalogue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cat != nil && time.Since(c.at) < c.ttl {
		return c.cat, nil
	}
	cat, err := images.Load(ctx, images.InNamespace(c.reader, c.ns))
	if err != nil {
		if c.cat != nil {
			return c.cat, nil // keep serving the last good one
		}
		return nil, err
	}
	c.cat, c.at = cat, time.Now()
	return cat, nil
}
