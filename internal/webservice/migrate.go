package webservice

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Running is what a running web service runs with, as its Deployment
// (not the manifest, which the tool can edit) says.
type Running struct {
	Choices   Choices
	ExtraArgs []string
}

// Running reads the web service's settings from the cluster; nil when no
// web service runs.
func (c *Client) Running(ctx context.Context) (*Running, error) {
	cur, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	if !cur.running() {
		return nil, nil
	}
	d := cur.dep
	r := &Running{Choices: Choices{Type: d.Annotations[TypeAnnotation], Replicas: "1"}, ExtraArgs: []string{}}
	if d.Spec.Replicas != nil {
		r.Choices.Replicas = fmt.Sprint(*d.Spec.Replicas)
	}
	for _, ctr := range d.Spec.Template.Spec.Containers {
		if ctr.Name == ContainerName {
			r.Choices.CPU = quantity(ctr.Resources.Limits, corev1.ResourceCPU)
			r.Choices.Mem = quantity(ctr.Resources.Limits, corev1.ResourceMemory)
			r.ExtraArgs = append(r.ExtraArgs, ctr.Args...)
		}
	}
	if r.Choices.Type == "" {
		return nil, fmt.Errorf("deployment %s/%s has no %s annotation: was it made by webservice?", c.Namespace, c.Tool, TypeAnnotation)
	}
	return r, nil
}

// Options are the options that start the same web service again, with
// the command line's choices (flags) over the running ones.
func (r *Running) Options(flags Choices) Options {
	c := r.Choices
	for _, f := range []struct {
		dst *string
		v   string
	}{{&c.Type, flags.Type}, {&c.CPU, flags.CPU}, {&c.Mem, flags.Mem}, {&c.Replicas, flags.Replicas}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	return Options{Flags: c, ExtraArgs: slices.Clone(r.ExtraArgs)}
}

// Footprint is what a web service asks of its namespace.
type Footprint struct {
	Replicas int32
	// Resources are each pod's container limits and requests.
	Resources corev1.ResourceRequirements
}

// ErrRunsHere is a web service already running where one is to start.
var ErrRunsHere = errors.New("a webservice already runs there")

// CheckStart says whether Start with o would be refused here, changing
// nothing: the type must be in this cluster's catalogue, the settings
// within this namespace's limits, no object of another's in the way, and
// no web service running already. It returns what the web service would
// ask of the namespace.
func (c *Client) CheckStart(ctx context.Context, o Options) (Footprint, error) {
	p, err := c.prepare(ctx, o, false)
	if err != nil {
		return Footprint{}, err
	}
	cur, err := c.current(ctx)
	if err != nil {
		return Footprint{}, err
	}
	if err := cur.foreign(); err != nil {
		return Footprint{}, err
	}
	if cur.running() {
		return Footprint{}, fmt.Errorf("%w (type %s)", ErrRunsHere, cur.dep.Annotations[TypeAnnotation])
	}
	return Footprint{Replicas: p.spec.Replicas, Resources: p.spec.Resources}, nil
}
