package jobs

import (
	"fmt"
	"strings"
	"testing"
)

func TestMacrosExpandToAFixedTimePerToolAndJob(t *testing.T) {
	for _, macro := range []string{"@hourly", "@daily", "@weekly", "@monthly", "@yearly"} {
		a := ActualSchedule("alpha", "backup", macro)
		if a != ActualSchedule("alpha", "backup", macro) {
			t.Fatalf("%s is not deterministic", macro)
		}
		if err := ValidateSchedule(a); err != nil {
			t.Fatalf("%s expanded to an invalid schedule %q: %v", macro, a, err)
		}
		if strings.HasPrefix(a, "@") {
			t.Fatalf("%s not expanded", macro)
		}
	}
	if ActualSchedule("alpha", "backup", "15 3 * * *") != "15 3 * * *" {
		t.Fatal("a cron schedule must be kept as it is")
	}
}

func TestAThousandDailyJobsSpreadOverTheDay(t *testing.T) {
	hours := map[string]int{}
	times := map[string]bool{}
	for i := 0; i < 1000; i++ {
		s := ActualSchedule(fmt.Sprintf("tool%d", i), "daily", "@daily")
		f := strings.Fields(s)
		if f[2] != "*" || f[3] != "*" || f[4] != "*" {
			t.Fatalf("@daily must run every day: %q", s)
		}
		hours[f[1]]++
		times[f[0]+" "+f[1]] = true
	}
	if len(hours) != 24 {
		t.Fatalf("1000 daily jobs use %d of 24 hours", len(hours))
	}
	for h, n := range hours {
		if n > 80 { // about 42 expected per hour
			t.Fatalf("hour %s has %d of 1000 jobs", h, n)
		}
	}
	if len(times) < 400 {
		t.Fatalf("only %d distinct times for 1000 jobs", len(times))
	}
	// Different jobs of one tool spread too.
	if ActualSchedule("alpha", "a", "@hourly") == ActualSchedule("alpha", "b", "@hourly") &&
		ActualSchedule("alpha", "c", "@hourly") == ActualSchedule("alpha", "d", "@hourly") {
		t.Fatal("jobs of one tool all get the same minute")
	}
}

func TestMonthlyJobsRunInEveryMonth(t *testing.T) {
	for i := 0; i < 500; i++ {
		f := strings.Fields(ActualSchedule("t", fmt.Sprint(i), "@monthly"))
		var day int
		if _, err := fmt.Sscan(f[2], &day); err != nil {
			t.Fatalf("day of %q: %v", f, err)
		}
		if day < 1 || day > 28 {
			t.Fatalf("@monthly on day %d would skip short months", day)
		}
	}
}
