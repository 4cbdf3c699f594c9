package testcluster

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// The Python package test apps depend on: PyPI is not reachable here, so
// tests and benchmarks serve it from a simple (PEP 503) index of their
// own. greeting.hello(who) returns "Hello, <who>, from the greeting
// package!".
const (
	PyPackage = "greeting"
	PyVersion = "1.0"
	pyModule  = "def hello(who):\n    return 'Hello, %s, from the greeting package!' % who\n"
)

// wheel makes greeting-1.0-py3-none-any.whl, RECORD and all.
func wheel() (name string, data []byte, err error) {
	name = fmt.Sprintf("%s-%s-py3-none-any.whl", PyPackage, PyVersion)
	info := fmt.Sprintf("%s-%s.dist-info", PyPackage, PyVersion)
	files := map[string]string{
		PyPackage + "/__init__.py": pyModule,
		info + "/METADATA":         fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: a test package\n", PyPackage, PyVersion),
		info + "/WHEEL":            "Wheel-Version: 1.0\nGenerator: toolforge-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var record strings.Builder
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			return "", nil, err
		}
		if _, err := w.Write([]byte(files[n])); err != nil {
			return "", nil, err
		}
		sum := sha256.Sum256([]byte(files[n]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", n, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[n]))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	w, err := zw.Create(info + "/RECORD")
	if err != nil {
		return "", nil, err
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		return "", nil, err
	}
	if err := zw.Close(); err != nil {
		return "", nil, err
	}
	return name, buf.Bytes(), nil
}

// ServePackageIndex serves the index on the nodes' gateway (where pods
// reach it) until the process ends, and returns its URL (…/simple/).
func ServePackageIndex(gateway string) (string, error) {
	name, data, err := wheel()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /simple/{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "<!DOCTYPE html><html><body><a href=\"%s/\">%s</a></body></html>\n", PyPackage, PyPackage)
	})
	mux.HandleFunc("GET /simple/"+PyPackage+"/{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "<!DOCTYPE html><html><body><a href=\"/files/%s#sha256=%s\">%s</a></body></html>\n", name, hex.EncodeToString(sum[:]), name)
	})
	mux.HandleFunc("GET /files/"+name, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(data)
	})
	l, err := net.Listen("tcp", net.JoinHostPort(gateway, "0"))
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String() + "/simple/", nil
}
