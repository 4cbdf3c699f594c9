package sudo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func certFor(t *testing.T, cn string) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"admins"}}, NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A kubeconfig with two users: the current context is alice's.
func kubeconfig(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cfg.AuthInfos["alice"] = &clientcmdapi.AuthInfo{ClientCertificateData: certFor(t, "alice"), ClientKeyData: []byte("unused")}
	cfg.AuthInfos["bob"] = &clientcmdapi.AuthInfo{ClientCertificateData: certFor(t, "bob"), ClientKeyData: []byte("unused")}
	cfg.AuthInfos["token"] = &clientcmdapi.AuthInfo{Token: "x"}
	cfg.Contexts["alice"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "alice"}
	cfg.Contexts["bob"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "bob"}
	cfg.Contexts["token"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "token"}
	cfg.CurrentContext = "alice"
	path := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestArgs(t *testing.T) {
	kc := kubeconfig(t)
	cases := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"impersonates the current context's certificate user as system:masters",
			[]string{"--kubeconfig", kc, "get", "pods", "-A"},
			[]string{"--as=alice", "--as-group=system:masters", "--kubeconfig", kc, "get", "pods", "-A"}, ""},
		{"honours --context to pick the user",
			[]string{"--kubeconfig=" + kc, "--context", "bob", "get", "nodes"},
			[]string{"--as=bob", "--as-group=system:masters", "--kubeconfig=" + kc, "--context", "bob", "get", "nodes"}, ""},
		{"refuses a user without a client certificate",
			[]string{"--kubeconfig", kc, "--context=token", "get", "pods"}, nil, "no client certificate"},
		{"refuses a caller's own --as",
			[]string{"--kubeconfig", kc, "--as=someone", "get", "pods"}, nil, "drop --as=someone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Args(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
