// Package admission is `toolforged admission`: what keeps a tool inside its
// namespace and its uid (SPEC §5).
//
// Validation that needs nothing but the object and its namespace runs in the
// API server itself: Pod Security Admission (restricted, set by accounts)
// and the ValidatingAdmissionPolicies installed here (services, ingress
// hosts), so no webhook outage can weaken it. Webhooks do what CEL cannot:
// the mutating webhook gives every tool pod the tool's identity, storage and
// environment (with lookups answered from informer caches, never the API),
// and refuses pods that ask for more with a message naming the rule; the
// validating webhook applies the same checks to the pod templates of
// workloads and to image changes of running pods. Both are scoped to
// namespaces labelled tenancy=tool and fail closed. A pod that already has
// everything the mutation would add, and runs as its tool from an allowed
// registry, takes the fast path: the webhook's match condition, generated
// from the informer caches, lets the API server admit it without a call.
package admission
