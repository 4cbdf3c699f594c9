package jobs

// Quota is what a tool may use and uses, grouped as the original shows it.
type Quota struct {
	Categories []QuotaCategory `json:"categories"`
}

// QuotaCategory is one group of quota items.
type QuotaCategory struct {
	Name  string      `json:"name"`
	Items []QuotaItem `json:"items"`
}

// QuotaItem is one limit; Used is empty for per-job limits.
type QuotaItem struct {
	Name  string `json:"name"`
	Limit string `json:"limit"`
	Used  string `json:"used,omitempty"`
}
