package api

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/toolforge-go/toolforge/internal/ensure"
	"github.com/toolforge-go/toolforge/internal/tenancy"
)

// Keys of the API ConfigMap, which the CLI reads with the tool's own
// credentials to find the API.
const (
	ConfigMapURLKey = tenancy.APIConfigURL
	ConfigMapCAKey  = tenancy.APIConfigCA
)

// publisher keeps the API ConfigMap (URL and CA bundle) and the role that
// lets tools read it.
type publisher struct {
	kube kubernetes.Interface
	ns   string
	url  string
	// domain is the platform's public domain, for the CLI's web services.
	domain string
	// webURL is the template of web services' public URLs.
	webURL string
	// buildsRegistry is the host of tools' built images.
	buildsRegistry string
	log            *slog.Logger
}

func (p *publisher) publish(ctx context.Context, bundle []byte) error {
	role, binding := readerRBAC(p.ns)
	if err := ensureRole(ctx, p.kube, role); err != nil {
		return err
	}
	if err := ensureRoleBinding(ctx, p.kube, binding); err != nil {
		return err
	}
	data := map[string]string{ConfigMapURLKey: p.url, tenancy.APIConfigDomain: p.domain, tenancy.APIConfigWebURL: p.webURL, tenancy.APIConfigBuildsRegistry: p.buildsRegistry}
	if len(bundle) > 0 {
		data[ConfigMapCAKey] = string(bundle)
	}
	want := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: tenancy.APIConfigMap, Namespace: p.ns, Labels: map[string]string{tenancy.LabelManagedBy: managedBy}},
		Data:       data,
	}
	if _, err := ensure.Typed(ctx, p.kube.CoreV1().ConfigMaps(p.ns), want,
		func(cur *corev1.ConfigMap) error { cur.Data = want.Data; return nil }); err != nil {
		return fmt.Errorf("publish ConfigMap %s/%s: %w", p.ns, tenancy.APIConfigMap, err)
	}
	p.log.Info("published API address", "configmap", p.ns+"/"+tenancy.APIConfigMap, "url", p.url)
	return nil
}
