package main

import (
	"context"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// hammer runs do(w, i) for i in 0..n-1 from workers goroutines (w is the
// worker's number) and returns each call's latency, sorted, and the wall
// time.
func hammer(ctx context.Context, n, workers int, do func(w, i int) error) (latencies, time.Duration, error) {
	var next atomic.Int64
	lats := make([]latencies, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	begin := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := do(w, i); err != nil {
					errs[w] = err
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	took := time.Since(begin)
	var all latencies
	for w := range lats {
		if errs[w] != nil {
			return nil, 0, errs[w]
		}
		all = append(all, lats[w]...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all, took, nil
}

// connections makes n clients of base, each with its own connection and no
// client-side rate limit, so that n workers load the API server as n
// independent clients do.
func connections(base *rest.Config, n int) ([]kubernetes.Interface, error) {
	clients := make([]kubernetes.Interface, n)
	for i := range clients {
		cfg := rest.CopyConfig(base)
		cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
		// A Dial func of its own keeps client-go from sharing one cached
		// transport (and connection) among the clients.
		cfg.Dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		clients[i] = client
	}
	return clients, nil
}
