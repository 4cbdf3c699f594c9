// Package server is the jobs framework's server side: the Kubernetes
// objects a job definition becomes (Job, CronJob, Deployment and Service),
// the store that keeps the definition beside the object and reads from
// informer caches, and the API routes under /jobs/v1.
package server
