package cluster

import (
	"context"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	kwokcrd "sigs.k8s.io/kwok/kustomize/crd"
	"sigs.k8s.io/yaml"
)

// kwokCRDs are the kwok kinds a cluster serves, so tests can tell kwok what
// a pod's logs are (Logs, ClusterLogs) and what exec/attach do. Only
// cluster admins may create them.
var kwokCRDs = map[string][]byte{
	"Logs":          kwokcrd.Logs,
	"ClusterLogs":   kwokcrd.ClusterLogs,
	"Exec":          kwokcrd.Exec,
	"ClusterExec":   kwokcrd.ClusterExec,
	"Attach":        kwokcrd.Attach,
	"ClusterAttach": kwokcrd.ClusterAttach,
}

// installCRDs creates (or updates) kwok's CRDs and waits until the API
// server serves them.
func installCRDs(ctx context.Context, l Layout) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig())
	if err != nil {
		return err
	}
	client, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return err
	}
	crds := client.ApiextensionsV1().CustomResourceDefinitions()
	var names []string
	for kind, raw := range kwokCRDs {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			return fmt.Errorf("kwok CRD %s: %w", kind, err)
		}
		names = append(names, crd.Name)
		cur, err := crds.Get(ctx, crd.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = crds.Create(ctx, &crd, metav1.CreateOptions{})
		case err == nil:
			crd.ResourceVersion = cur.ResourceVersion
			_, err = crds.Update(ctx, &crd, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("install CRD %s: %w", crd.Name, err)
		}
	}
	deadline := time.Now().Add(startTimeout)
	for _, name := range names {
		for {
			crd, err := crds.Get(ctx, name, metav1.GetOptions{})
			if err == nil && established(crd) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after %s", name, startTimeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

func kwokCRDKinds() []string {
	out := make([]string, 0, len(kwokCRDs))
	for k := range kwokCRDs {
		out = append(out, k)
	}
	return out
}
