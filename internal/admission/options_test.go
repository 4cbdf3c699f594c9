package admission

import (
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
)

func TestOptionsSayWhereTheAPIServerCallsTheWebhooks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(o *Options)
		wantURL string
		wantErr string
	}{
		{"the default is the listen address", func(*Options) {}, "https://127.0.0.1:9443", ""},
		{"a URL is taken as given", func(o *Options) { o.URL = "https://admission.example:8443" }, "https://admission.example:8443", ""},
		{"every address needs a URL", func(o *Options) { o.Addr = "0.0.0.0:9443" }, "", "give --admission-url or --admission-service"},
		{"a Service needs no URL", func(o *Options) { o.Addr = ":9443"; o.Service = "toolforge-admission" }, "", ""},
		{"plain HTTP is refused", func(o *Options) { o.URL = "http://127.0.0.1:9443" }, "", "must be https://"},
		{"a bad port is refused", func(o *Options) { o.Addr = "127.0.0.1:http" }, "", "the port must be a number"},
		{"a long timeout is refused", func(o *Options) { o.Timeout = time.Minute }, "", "--admission-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.change(o)
			_, _, e, err := o.validate("toolforge-system")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.URL != tc.wantURL {
				t.Errorf("URL = %q, want %q", e.URL, tc.wantURL)
			}
		})
	}
}

func TestServiceModeNamesTheServiceAndItsDNSNames(t *testing.T) {
	e := endpoint{Service: "toolforge-admission", ServicePort: 443, Namespace: "toolforge-system"}
	cc := e.clientConfig(MutatePodsPath, []byte("ca"))
	if cc.URL != nil || cc.Service == nil || cc.Service.Name != "toolforge-admission" || cc.Service.Namespace != "toolforge-system" ||
		ptr.Deref(cc.Service.Path, "") != MutatePodsPath || ptr.Deref(cc.Service.Port, 0) != 443 || string(cc.CABundle) != "ca" {
		t.Errorf("client config = %+v", cc)
	}
	hosts := strings.Join(e.hosts(), " ")
	for _, want := range []string{"toolforge-admission.toolforge-system.svc", "toolforge-admission.toolforge-system.svc.cluster.local", "127.0.0.1"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("serving certificate hosts %q lack %s", hosts, want)
		}
	}
}
