package k8s

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/portex/portex/scenarios"
)

// apiserverEnv names the binaries the server-side dry run needs; README
// ("Beyond one machine") says how to build both from the Go module proxy.
const (
	apiserverEnv = "PORTEX_KUBE_APISERVER"
	etcdEnv      = "PORTEX_ETCD"
	testToken    = "portex-dry-run-token"
)

func loopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess starts a server the test owns, on loopback, and stops it
// when the test ends; what it printed last is shown on failure. The
// channel is closed when the process exits.
func startProcess(t *testing.T, name string, args ...string) <-chan struct{} {
	t.Helper()
	var out syncBuffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			s := out.String()
			t.Logf("%s said (last 4 KiB):\n%s", filepath.Base(name), s[max(0, len(s)-4096):])
		}
	})
	return exited
}

// syncBuffer is a bytes.Buffer a process's two streams write at once.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAPIServer starts etcd and kube-apiserver on loopback, with a
// token that may do anything, and returns the server's URL once it is
// ready.
func startAPIServer(t *testing.T, apiserver, etcd string) (string, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	client := fmt.Sprintf("http://127.0.0.1:%d", loopbackPort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", loopbackPort(t))
	etcdExited := startProcess(t, etcd, "--name", "portex", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "portex="+peer, "--log-level", "error")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "sa.key")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	tokens := filepath.Join(dir, "tokens.csv")
	os.WriteFile(tokens, []byte(testToken+",portex,portex,system:masters\n"), 0o600)
	port := loopbackPort(t)
	apiExited := startProcess(t, apiserver,
		"--etcd-servers", client,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(port),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", keyFile, "--service-account-signing-key-file", keyFile,
		"--token-auth-file", tokens, "--authorization-mode", "AlwaysAllow",
		"--service-cluster-ip-range", "10.0.0.0/24",
		// A loopback address is no endpoint for the kubernetes
		// Service: keep none.
		"--endpoint-reconciler-type", "none")
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	// The server's certificate is the one it made for itself in
	// cert-dir, on a loopback port this test chose.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, _ := call(hc, "GET", url+"/api/v1/namespaces/default", nil)
		if code == http.StatusOK {
			return url, hc
		}
		select {
		case <-apiExited:
			t.Fatal("kube-apiserver exited")
		case <-etcdExited:
			t.Fatal("etcd exited")
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready after 2 minutes (last status %d)", code)
		}
	}
}

func call(hc *http.Client, method, url string, body []byte) (int, string) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// collection is where an object of the manifests is created.
func collection(kind string) string {
	switch kind {
	case "ConfigMap":
		return "/api/v1/namespaces/default/configmaps"
	case "Service":
		return "/api/v1/namespaces/default/services"
	case "Deployment":
		return "/apis/apps/v1/namespaces/default/deployments"
	case "Job":
		return "/apis/batch/v1/namespaces/default/jobs"
	}
	return ""
}

// A real kube-apiserver takes the manifests, with server-side dry run
// (nothing is stored) and strict field validation: every object of each
// bundled scenario's manifests that portex k8s writes, with either
// Service, is created. A Job with a misspelled completion mode is
// refused, so the test can fail.
func TestServerSideDryRun(t *testing.T) {
	apiserver, etcd := os.Getenv(apiserverEnv), os.Getenv(etcdEnv)
	if apiserver == "" || etcd == "" {
		t.Skipf("set %s and %s to kube-apiserver and etcd binaries for the server-side dry run (README, \"Beyond one machine\", says how to build them from the Go module proxy)", apiserverEnv, etcdEnv)
	}
	url, hc := startAPIServer(t, apiserver, etcd)
	post := func(doc []byte) (int, string) {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ Kind string }
		yaml.Unmarshal(doc, &head)
		return call(hc, "POST", url+collection(head.Kind)+"?dryRun=All&fieldValidation=Strict", js)
	}
	created := 0
	for _, e := range scenarios.Library() {
		name := e.Name
		for _, svc := range []string{ServiceHeadless, ServiceClusterIP} {
			m, err := build(t, name, Options{Shards: 4, AllowUnsafe: true, Service: svc})
			if err != nil {
				continue // refused: its golden file says why
			}
			stream, _ := m.YAML()
			for i, doc := range bytes.Split(stream, []byte("\n---\n")) {
				if code, body := post(doc); code != http.StatusCreated {
					t.Errorf("%s (%s), document %d: %d %s", name, svc, i, code, body)
				} else {
					created++
				}
			}
			if name == "soak" && svc == ServiceHeadless {
				docs := bytes.Split(stream, []byte("\n---\n"))
				bad := bytes.Replace(docs[3], []byte("completionMode: Indexed"), []byte("completionMode: Indexd"), 1)
				if code, body := post(bad); code != http.StatusUnprocessableEntity || !strings.Contains(body, "completionMode") {
					t.Errorf("a Job with completionMode Indexd: %d %s, want 422", code, body)
				}
			}
		}
	}
	t.Logf("kube-apiserver created %d objects with dryRun=All and strict field validation", created)
}
