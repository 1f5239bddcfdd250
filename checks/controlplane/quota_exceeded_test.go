package controlplane

import "testing"

func TestQuotaRejection(t *testing.T) {
	tests := []struct{ msg, quota string }{
		{`Error creating: pods "api-6f8d9c7b5-8kq2w" is forbidden: exceeded quota: compute-resources, requested: requests.cpu=500m, used: requests.cpu=3800m, limited: requests.cpu=4`, "compute-resources"},
		{`create Pod web-0 in StatefulSet web failed error: pods "web-0" is forbidden: exceeded quota: pods-high, requested: pods=1, used: pods=10, limited: pods=10`, "pods-high"},
		{`Error creating: pods "job-x2k9p" is forbidden: failed quota: mem-cpu-limits: must specify limits.cpu for: report; limits.memory for: report`, "mem-cpu-limits"},
		{`persistentvolumeclaims "data" is forbidden: exceeded quota: storage.quota, requested: requests.storage=100Gi, used: requests.storage=900Gi, limited: requests.storage=1Ti`, "storage.quota"},
		{`Back-off restarting failed container`, ""},
	}
	for _, tt := range tests {
		m := quotaRejection.FindStringSubmatch(tt.msg)
		got := ""
		if m != nil {
			got = m[2]
		}
		if got != tt.quota {
			t.Errorf("%q: quota %q, want %q", tt.msg, got, tt.quota)
		}
	}
}

func TestQuantity(t *testing.T) {
	tests := []struct {
		res  string
		v    int64
		want string
	}{
		{"requests.cpu", 3800, "3800m"},
		{"limits.cpu", 4000, "4"},
		{"requests.memory", 8 << 30, "8Gi"},
		{"requests.storage", 1 << 40, "1Ti"},
		{"requests.ephemeral-storage", 1500000000, "1500000000"},
		{"pods", 18, "18"},
		{"count/deployments.apps", 30, "30"},
	}
	for _, tt := range tests {
		if got := quantity(tt.res, tt.v); got != tt.want {
			t.Errorf("quantity(%s, %d) = %s, want %s", tt.res, tt.v, got, tt.want)
		}
	}
}
