package daemon

import (
	"context"
	"log/slog"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

type runnable struct{}

func (runnable) Start(context.Context) error { return nil }

type withCache struct{ runnable }

func (withCache) GetCache() cache.Cache { return nil }

type electable struct {
	runnable
	need bool
}

func (e electable) NeedLeaderElection() bool { return e.need }

func TestWhatWritesRunsOnTheLeaderAndWhatServesOnEveryReplica(t *testing.T) {
	cases := []struct {
		name string
		r    manager.Runnable
		want bool
	}{
		{"a runnable that does not say runs on the leader, as the manager would run it", runnable{}, true},
		{"a controller that needs a leader runs on the leader", electable{need: true}, true},
		{"a server that needs none runs on every replica", electable{need: false}, false},
		{"a cluster's cache runs on every replica", withCache{}, false},
		{"a webhook server runs on every replica", webhook.NewServer(webhook.Options{}), false},
		{"a runnable wrapped by EveryReplica runs on every replica", EveryReplica(runnable{}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsLeader(tc.r); got != tc.want {
				t.Fatalf("needsLeader = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAServiceHasTheSameLeaseWhicheverProcessRunsIt(t *testing.T) {
	for _, s := range []string{"accounts", "admission", "notifier", "backup"} {
		e := newElector(s, "toolforge-system", "host_1", nil, slog.New(slog.DiscardHandler))
		if e.lease != "toolforged-"+s || e.lease != LeaseName(s) {
			t.Errorf("%s: lease %q", s, e.lease)
		}
	}
}
