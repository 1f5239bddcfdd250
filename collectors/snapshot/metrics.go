package snapshot

// Metrics holds metric data gathered for a snapshot. Its layout is owned by
// the metric collectors (collectors/prom, collectors/scrape).
type Metrics struct {
	Series []Series `json:"series,omitempty"`
}

// Series is one labelled metric series with its samples (one sample for an
// instant value).
type Series struct {
	Name    string            `json:"name"`
	Labels  map[string]string `json:"labels,omitempty"`
	Source  string            `json:"source,omitempty"`
	Samples []Sample          `json:"samples"`
}

// Sample is a value at a time (Unix milliseconds).
type Sample struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}
