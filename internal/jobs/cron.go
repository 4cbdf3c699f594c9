package jobs

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"

	"github.com/robfig/cron/v3"
)

// macros are the @ schedules users may give. Each is expanded to a fixed
// time picked pseudo-randomly from the tool and job name, so that a
// thousand @daily jobs spread over the day instead of all firing at
// midnight, while one job keeps its time across updates and restarts.
var macros = map[string]func(r *rand.Rand) string{
	"@hourly": func(r *rand.Rand) string { return fmt.Sprintf("%d * * * *", r.IntN(60)) },
	"@daily": func(r *rand.Rand) string {
		return fmt.Sprintf("%d %d * * *", r.IntN(60), r.IntN(24))
	},
	"@weekly": func(r *rand.Rand) string {
		return fmt.Sprintf("%d %d * * %d", r.IntN(60), r.IntN(24), r.IntN(7))
	},
	// Days 1-28 exist in every month: a job picked for the 31st would
	// skip most months.
	"@monthly": func(r *rand.Rand) string {
		return fmt.Sprintf("%d %d %d * *", r.IntN(60), r.IntN(24), 1+r.IntN(28))
	},
	"@yearly": func(r *rand.Rand) string {
		return fmt.Sprintf("%d %d %d %d *", r.IntN(60), r.IntN(24), 1+r.IntN(28), 1+r.IntN(12))
	},
}

func init() { macros["@annually"] = macros["@yearly"] }

// MacroNames lists the accepted @ schedules, for messages.
const MacroNames = "@hourly, @daily, @weekly, @monthly, @yearly"

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ValidateSchedule checks a schedule: five cron fields (minute hour
// day-of-month month day-of-week) or one of the macros.
func ValidateSchedule(s string) error {
	if strings.HasPrefix(s, "@") {
		if _, ok := macros[s]; !ok {
			return fmt.Errorf("--schedule %q: unknown macro; use five cron fields or one of %s", s, MacroNames)
		}
		return nil
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return fmt.Errorf("--schedule %q: want five fields (minute hour day-of-month month day-of-week, e.g. \"15 3 * * *\") or one of %s; got %d fields", s, MacroNames, len(fields))
	}
	if strings.Contains(s, "TZ=") {
		return fmt.Errorf("--schedule %q: time zones are not supported; schedules run in UTC", s)
	}
	if _, err := cronParser.Parse(s); err != nil {
		return fmt.Errorf("--schedule %q: %v", s, err)
	}
	return nil
}

// ActualSchedule is the cron schedule the CronJob gets: the schedule
// itself, or a macro expanded for this tool and job.
func ActualSchedule(tool, job, schedule string) string {
	expand, ok := macros[schedule]
	if !ok {
		return schedule
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%s", tool, job)
	seed := h.Sum64()
	// Deliberately predictable: the same tool and job get the same time.
	return expand(rand.New(rand.NewPCG(seed, seed>>1|1))) //nolint:gosec // G404: spreads schedules, guards nothing
}
