package k8s

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/scenarios"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// build makes the manifests of a bundled scenario (every variant), the
// pods' runtime set as portex k8s sets it.
func build(t *testing.T, name string, o Options) (*Manifests, error) {
	t.Helper()
	sc, err := scenarios.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := sc.Runs()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		r.Plan.Runtime = "pod"
		o.Plans = append(o.Plans, r.Plan)
	}
	data, _ := scenarios.Bundled(name)
	o.Scenario, o.YAML = sc.Name, data
	return Build(o)
}

// decodeStrict decodes a YAML stream back into the API types, refusing
// any field the types do not have.
func decodeStrict(t *testing.T, stream []byte) (*corev1.ConfigMap, *appsv1.Deployment, *corev1.Service, *batchv1.Job, error) {
	t.Helper()
	docs := bytes.Split(stream, []byte("\n---\n"))
	if len(docs) != 4 {
		t.Fatalf("%d documents, want 4", len(docs))
	}
	cm, dep, svc, job := &corev1.ConfigMap{}, &appsv1.Deployment{}, &corev1.Service{}, &batchv1.Job{}
	for i, into := range []any{cm, dep, svc, job} {
		if err := yaml.UnmarshalStrict(docs[i], into); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("document %d: %w", i, err)
		}
	}
	return cm, dep, svc, job, nil
}

// Every bundled scenario has a golden file: its manifests for 4 shards
// (the notes as comments above them), or why portex k8s refuses it. Each
// set of manifests decodes strictly back into the API types, to the same
// objects.
func TestGoldenPerBundledScenario(t *testing.T) {
	for _, e := range scenarios.Library() {
		t.Run(e.Name, func(t *testing.T) {
			m, err := build(t, e.Name, Options{Shards: 4, AllowUnsafe: true})
			var got []byte
			if err != nil {
				if !errors.Is(err, ErrUnrunnable) {
					t.Fatalf("refused with %v, not ErrUnrunnable", err)
				}
				got = []byte("# refused: " + err.Error() + "\n")
			} else {
				doc, err := m.YAML()
				if err != nil {
					t.Fatal(err)
				}
				cm, dep, svc, job, err := decodeStrict(t, doc)
				if err != nil {
					t.Fatal(err)
				}
				for i, pair := range [][2]any{{cm, m.ConfigMap}, {dep, m.Deployment}, {svc, m.Service}, {job, m.Job}} {
					if !reflect.DeepEqual(pair[0], pair[1]) {
						t.Errorf("document %d decodes to another object than was written:\n%+v\n%+v", i, pair[0], pair[1])
					}
				}
				var b bytes.Buffer
				for _, n := range m.Notes {
					fmt.Fprintf(&b, "# note: %s\n", n)
				}
				b.Write(doc)
				got = b.Bytes()
			}
			path := filepath.Join("testdata", e.Name+".yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./k8s -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from what portex k8s writes now (go test ./k8s -update, then review the diff):\n%s", path, got)
			}
		})
	}
}

// The strict decoding refuses a misspelled field: the round trip above
// would catch a manifest that named one.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	m, err := build(t, "soak", Options{Shards: 2, AllowUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := m.YAML()
	bad := bytes.Replace(doc, []byte("completionMode:"), []byte("completionMod:"), 1)
	if _, _, _, _, err := decodeStrict(t, bad); err == nil || !strings.Contains(err.Error(), "completionMod") {
		t.Errorf("a misspelled field decoded: %v", err)
	}
}

// The Job is an Indexed Job of N pods at once, never retried, whose pods
// run their shard against the Service with the scenario's sysctls; the
// Service is headless unless asked for a cluster IP.
func TestJobAndService(t *testing.T) {
	for _, svcKind := range []string{"", ServiceClusterIP} {
		m, err := build(t, "soak", Options{Shards: 3, Service: svcKind, Image: "registry.example/portex:v1", AllowUnsafe: true})
		if err != nil {
			t.Fatal(err)
		}
		j := m.Job.Spec
		if *j.CompletionMode != batchv1.IndexedCompletion || *j.Completions != 3 || *j.Parallelism != 3 || *j.BackoffLimit != 0 {
			t.Errorf("job spec: mode %s, completions %d, parallelism %d, backoff %d", *j.CompletionMode, *j.Completions, *j.Parallelism, *j.BackoffLimit)
		}
		c := j.Template.Spec.Containers[0]
		args := strings.Join(c.Args, " ")
		for _, want := range []string{"--runtime pod", "--target portex-soak-echo", "--shard $(JOB_COMPLETION_INDEX)/3", "--print-result", "/etc/portex/scenario.yaml"} {
			if !strings.Contains(args, want) {
				t.Errorf("shard args %q lack %q", args, want)
			}
		}
		if c.Image != "registry.example/portex:v1" || m.Deployment.Spec.Template.Spec.Containers[0].Image != c.Image {
			t.Errorf("images: %s, %s", c.Image, m.Deployment.Spec.Template.Spec.Containers[0].Image)
		}
		sys := j.Template.Spec.SecurityContext.Sysctls
		if len(sys) == 0 || sys[0].Name != "net.ipv4.ip_local_port_range" {
			t.Errorf("pod sysctls %v: want the port range first", sys)
		}
		wantIP := corev1.ClusterIPNone
		if svcKind == ServiceClusterIP {
			wantIP = ""
		}
		if m.Service.Spec.ClusterIP != wantIP {
			t.Errorf("service %q: clusterIP %q, want %q", svcKind, m.Service.Spec.ClusterIP, wantIP)
		}
		var ports []int32
		for _, p := range m.Service.Spec.Ports {
			ports = append(ports, p.Port)
		}
		if !slices.Equal(ports, []int32{7000, 7001}) {
			t.Errorf("service ports %v, want soak's two", ports)
		}
	}
}

// A sysctl outside the release's safe set is refused, naming it, why,
// the kubelet's flag and portex's; with AllowUnsafe it goes into the pod
// and a note names what the kubelets must allow. A sysctl safe only from
// a later release is refused with that release.
func TestUnsafeSysctlRefusedOrAllowed(t *testing.T) {
	_, err := build(t, "hold-until-exhausted", Options{Shards: 2})
	if !errors.Is(err, ErrUnsafeSysctl) {
		t.Fatalf("got %v, want ErrUnsafeSysctl", err)
	}
	for _, want := range []string{"net.ipv4.tcp_tw_reuse", "--allowed-unsafe-sysctls=net.ipv4.tcp_tw_reuse", "--allow-unsafe-sysctls", "towards loopback only"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
	m, err := build(t, "hold-until-exhausted", Options{Shards: 2, AllowUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Job.Spec.Template.Spec.SecurityContext.Sysctls, corev1.Sysctl{Name: "net.ipv4.tcp_tw_reuse", Value: "0"}) {
		t.Errorf("allowed sysctl not in the pod: %v", m.Job.Spec.Template.Spec.SecurityContext.Sysctls)
	}
	notes := strings.Join(m.Notes, "\n")
	if !strings.Contains(notes, "--allowed-unsafe-sysctls=net.ipv4.tcp_tw_reuse") || !strings.Contains(notes, "nofile") {
		t.Errorf("notes %q: want the kubelet's flag and the nofile note", notes)
	}

	p := &loadgen.Plan{Scenario: "fin", Variant: "default", Runtime: "pod", Duration: 1e9,
		Sandbox: loadgen.Sandbox{PortRange: loadgen.PortRange{Lo: 50000, Hi: 50199}, Sysctls: map[string]string{"net.ipv4.tcp_fin_timeout": "5"}},
		Server:  loadgen.ServerPlan{Listeners: []loadgen.Listener{{Port: 7000}}},
		Pools:   []loadgen.Pool{{Name: "p", Workers: 4, Ports: []int{7000}}}}
	_, err = Build(Options{Scenario: "fin", Plans: []*loadgen.Plan{p}, Shards: 2, Version: Version{1, 28}})
	if !errors.Is(err, ErrUnsafeSysctl) || !strings.Contains(err.Error(), "safe from Kubernetes 1.29") {
		t.Errorf("tcp_fin_timeout on 1.28: %v", err)
	}
	if _, err := Build(Options{Scenario: "fin", Plans: []*loadgen.Plan{p}, Shards: 2, Version: Version{1, 29}}); err != nil {
		t.Errorf("tcp_fin_timeout on 1.29: %v", err)
	}
	if _, err := Build(Options{Scenario: "fin", Plans: []*loadgen.Plan{p}, Shards: 5}); !errors.Is(err, ErrUnrunnable) {
		t.Errorf("4 workers over 5 shards: %v, want ErrUnrunnable", err)
	}
}
