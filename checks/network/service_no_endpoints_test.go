package network

import "testing"

func TestAlike(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"backend", "back-end", true},
		{"frontend", "frontend-v2", true},
		{"nginx", "ngnix", true},
		{"payments", "payment", true},
		{"web", "api", false},
		{"db", "web", false},
		{"checkout", "catalog", false},
	}
	for _, tt := range tests {
		if got := alike(tt.a, tt.b); got != tt.want {
			t.Errorf("alike(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
