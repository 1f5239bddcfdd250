package snapshot

// EachMeta calls f for the metadata of every object in s, with its kind.
func EachMeta(s *Snapshot, f func(Kind, *Meta)) {
	for i := range s.Namespaces {
		f(KindNamespace, &s.Namespaces[i].Meta)
	}
	for i := range s.Nodes {
		f(KindNode, &s.Nodes[i].Meta)
	}
	for i := range s.Pods {
		f(KindPod, &s.Pods[i].Meta)
	}
	for i := range s.Deployments {
		f(KindDeployment, &s.Deployments[i].Meta)
	}
	for i := range s.ReplicaSets {
		f(KindReplicaSet, &s.ReplicaSets[i].Meta)
	}
	for i := range s.StatefulSets {
		f(KindStatefulSet, &s.StatefulSets[i].Meta)
	}
	for i := range s.DaemonSets {
		f(KindDaemonSet, &s.DaemonSets[i].Meta)
	}
	for i := range s.Jobs {
		f(KindJob, &s.Jobs[i].Meta)
	}
	for i := range s.CronJobs {
		f(KindCronJob, &s.CronJobs[i].Meta)
	}
	for i := range s.HPAs {
		f(KindHPA, &s.HPAs[i].Meta)
	}
	for i := range s.PDBs {
		f(KindPDB, &s.PDBs[i].Meta)
	}
	for i := range s.PVCs {
		f(KindPVC, &s.PVCs[i].Meta)
	}
	for i := range s.PVs {
		f(KindPV, &s.PVs[i].Meta)
	}
	for i := range s.StorageClasses {
		f(KindStorageClass, &s.StorageClasses[i].Meta)
	}
	for i := range s.Services {
		f(KindService, &s.Services[i].Meta)
	}
	for i := range s.EndpointSlices {
		f(KindEndpointSlice, &s.EndpointSlices[i].Meta)
	}
	for i := range s.ResourceQuotas {
		f(KindResourceQuota, &s.ResourceQuotas[i].Meta)
	}
	for i := range s.Leases {
		f(KindLease, &s.Leases[i].Meta)
	}
	for i := range s.WebhookConfigs {
		f(s.WebhookConfigs[i].Kind, &s.WebhookConfigs[i].Meta)
	}
	for i := range s.APIServices {
		f(KindAPIService, &s.APIServices[i].Meta)
	}
}
