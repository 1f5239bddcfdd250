package anomaly

import (
	"github.com/kubepatrol/patrol/checks"
	"github.com/kubepatrol/patrol/collectors/snapshot"
)

// NodeMemory fires when a node's available memory drops anomalously for
// that node.
var NodeMemory = (&family{
	id:    "anomaly.node_memory",
	title: "Node memory anomaly",
	description: "A node's available memory (node_memory_MemAvailable_bytes, the least in each 15 minutes) is anomalously low for that " +
		"node: the combined detector, run over a week of 15-minute points, scores one of the latest points (`within`) at or above `page_score` " +
		"below its baseline. A leak or a new memory-hungry workload, seen before node.memory_exhausting's 90%.",
	kind: snapshot.KindMetricsNode, reason: "NodeMemoryAnomaly",
	series: SeriesNodeMemory, nodes: true,
	what:   func(_ map[string]string, node string) string { return "the memory available on " + node },
	format: checks.Bytes, dir: Down,
	remedy: "Find what grew on the node (kubectl top pods -A --sort-by=memory --field-selector spec.nodeName=NODE; on the node: " +
		"ps aux --sort=-rss | head) and whether its memory requests match its usage.",
	priority: 30,
}).check()
