package status

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/toolforge-go/toolforge/internal/logs"
	"github.com/toolforge-go/toolforge/internal/logs/store"
	"github.com/toolforge-go/toolforge/internal/status/wire"
)

// recentEvents is how many of a tool's events its page shows.
const recentEvents = 10

// eventsFrom reads a tool's last events from the log store, for its page:
// briefly (a store that does not answer at once leaves the list empty
// rather than the page slow), in the tool's tenant only.
func eventsFrom(st *store.Client, log *slog.Logger) func(tool string) []wire.Event {
	return func(tool string) []wire.Event {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		recs, err := st.Select(ctx, store.TenantOf(tool), store.Query{LogsQL: store.Stream(store.FieldKind, logs.KindEvent), Limit: recentEvents})
		if err != nil {
			log.Warn("read a tool's events", "tool", tool, "err", err)
			return []wire.Event{}
		}
		out := make([]wire.Event, 0, len(recs))
		for _, r := range slices.Backward(recs) {
			e := wire.Event{Time: r.Time(), Of: r[store.FieldOf], Name: r[store.FieldName], Event: r[store.FieldEvent], Message: r[store.FieldMsg]}
			// What Kubernetes reports of a pod may quote the tool's own
			// output (a health check's): the public page names it only.
			switch e.Event {
			case "unhealthy":
				e.Message = "a health check failed"
			case "backoff":
				e.Message = "waiting before restarting a failing container or pulling its image again"
			case "failed":
				e.Message = "a container could not be started"
			}
			out = append(out, e)
		}
		return out
	}
}
