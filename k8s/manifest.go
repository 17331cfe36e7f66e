package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/portex/portex/fleet"
	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/sandbox"
)

// Service kinds (Options.Service).
const (
	// ServiceHeadless has no cluster IP: the Service's DNS name resolves
	// to the echo pod's own address, and the load reaches it directly.
	ServiceHeadless = "headless"
	// ServiceClusterIP has a virtual IP that kube-proxy translates (DNAT,
	// with a conntrack entry per connection) to the echo pod: the path
	// most clients in a cluster take.
	ServiceClusterIP = "clusterip"
)

// DefaultImage is the image the manifests name unless told otherwise: one
// with the portex binary as its entrypoint (docker/Dockerfile builds it).
const DefaultImage = "portex:latest"

// Paths inside the pods.
const (
	scenarioDir  = "/etc/portex"
	scenarioFile = "scenario.yaml"
	outDir       = "/tmp/portex"
)

// jobStartSlack is added to the sum of the variants' durations for the
// Job's activeDeadlineSeconds: image pulls, the wait for the echo server,
// each variant's start and report.
const jobStartSlack = 10 * time.Minute

// PodWait is how long a shard's pod waits for the echo server to accept
// a connection before it gives up: the Job's pods may start first.
const PodWait = 2 * time.Minute

// Options are what the manifests are made of.
type Options struct {
	// Scenario is the scenario's name; YAML its text, which goes into the
	// ConfigMap as it is.
	Scenario string
	YAML     []byte
	// Plans are the variants to run, in order; Variants their names as
	// the user chose them (nil: every variant, and the Job runs them all).
	Plans    []*loadgen.Plan
	Variants []string
	Shards   int
	Image    string
	Version  Version
	// AllowUnsafe puts sysctls outside the kubelet's safe set into the
	// pods anyway; the nodes' kubelets must allow them.
	AllowUnsafe bool
	Service     string // ServiceHeadless (default) or ServiceClusterIP
	Namespace   string // "" leaves it to kubectl's context
}

// Manifests are the objects of one scenario's run, in the order they
// are applied.
type Manifests struct {
	ConfigMap  *corev1.ConfigMap
	Deployment *appsv1.Deployment
	Service    *corev1.Service
	Job        *batchv1.Job
	// Notes say what the manifests could not carry of the scenario, or
	// what the cluster must allow, for stderr.
	Notes []string
}

// Objects returns the manifests in apply order.
func (m *Manifests) Objects() []runtime.Object {
	return []runtime.Object{m.ConfigMap, m.Deployment, m.Service, m.Job}
}

// YAML is the manifests as one YAML stream, documents apart by "---".
func (m *Manifests) YAML() ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range m.Objects() {
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("k8s: %w", err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// ErrUnsafeSysctl is wrapped by the refusal of a sysctl outside the
// kubelet's safe set.
var ErrUnsafeSysctl = errors.New("unsafe sysctl")

// ErrUnrunnable is wrapped by the refusal of a scenario the manifests
// cannot carry.
var ErrUnrunnable = errors.New("cannot run on Kubernetes")

// Names of a run's objects.
type names struct{ base, scenario, echo, job string }

func namesOf(scenario string) names {
	// Object names are DNS labels of at most 63 characters; the Job's is
	// the longest.
	base := "portex-" + scenario
	if len(base) > 63-len("-shards") {
		base = strings.TrimRight(base[:63-len("-shards")], "-")
	}
	return names{base: base, scenario: base + "-scenario", echo: base + "-echo", job: base + "-shards"}
}

// Build makes the manifests, or says why the scenario cannot run as
// them: a sysctl outside the safe set of the release (ErrUnsafeSysctl,
// unless AllowUnsafe), an echo server `portex echo` cannot be, variants
// asking for different echo servers, what the pod runtime refuses, or
// a pool too small for the shards (ErrUnrunnable).
func Build(o Options) (*Manifests, error) {
	if len(o.Plans) == 0 {
		return nil, fmt.Errorf("%w: no plan", ErrUnrunnable)
	}
	if o.Shards < 1 || o.Shards > fleet.MaxShards {
		return nil, fmt.Errorf("%w: --shards %d: want 1..%d", ErrUnrunnable, o.Shards, fleet.MaxShards)
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.Version == (Version{}) {
		o.Version = Known
	}
	switch o.Service {
	case "":
		o.Service = ServiceHeadless
	case ServiceHeadless, ServiceClusterIP:
	default:
		return nil, fmt.Errorf("%w: --service %q: want %s or %s", ErrUnrunnable, o.Service, ServiceHeadless, ServiceClusterIP)
	}
	m := &Manifests{}
	if Known.Less(o.Version) {
		m.Notes = append(m.Notes, fmt.Sprintf("Kubernetes %s is newer than the %s whose safe sysctls portex knows: the manifests use %s's safe set", o.Version, Known, Known))
	}
	pod := &sandbox.Pod{Host: "echo", AllowExternal: true}
	for _, p := range o.Plans {
		if err := pod.CheckPlan(p); err != nil {
			return nil, fmt.Errorf("%w: variant %s: %v", ErrUnrunnable, p.Variant, err)
		}
		if _, err := (fleet.Spec{Index: 0, Count: o.Shards}).Split(p); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnrunnable, err)
		}
	}
	echoArgs, ports, err := echoServer(o.Plans)
	if err != nil {
		return nil, err
	}
	clientSysctls, serverSysctls, nofile, err := podSysctls(o.Plans)
	if err != nil {
		return nil, err
	}
	for _, s := range []struct {
		side    string
		sysctls []corev1.Sysctl
	}{{"sandbox.sysctls", clientSysctls}, {"server.sysctls", serverSysctls}} {
		notes, err := checkSysctls(o.Version, s.side, s.sysctls, o.AllowUnsafe)
		if err != nil {
			return nil, err
		}
		m.Notes = append(m.Notes, notes...)
	}
	if nofile > 0 {
		m.Notes = append(m.Notes, fmt.Sprintf("sandbox.nofile %d: Kubernetes has no per-pod descriptor limit; the shard sets its own soft limit to %d, and fails if the container runtime's hard limit is lower", nofile, nofile))
	}

	n := namesOf(o.Scenario)
	m.ConfigMap = &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(n.scenario, n.base, "scenario", o.Namespace),
		Data:       map[string]string{scenarioFile: string(o.YAML)},
	}
	m.Deployment = echoDeployment(n, o, echoArgs, ports, serverSysctls)
	m.Service = echoService(n, o, ports)
	m.Job = shardJob(n, o, clientSysctls)
	return m, nil
}

func labels(base, component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "portex",
		"app.kubernetes.io/instance":  base,
		"app.kubernetes.io/component": component,
	}
}

func meta(name, base, component, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels(base, component)}
}

// echoServer is the `portex echo` command line that serves every plan's
// server, and its ports. The server is one Deployment for every variant,
// so the variants must agree on it; and `portex echo` applies one close
// rule to every port, and has no idle close.
func echoServer(plans []*loadgen.Plan) ([]string, []int, error) {
	first := plans[0]
	for _, p := range plans[1:] {
		if !reflect.DeepEqual(p.Server, first.Server) {
			return nil, nil, fmt.Errorf("%w: variants %s and %s ask for different echo servers (server:), and one Deployment serves every variant; "+
				"write the manifests of each with --variant", ErrUnrunnable, first.Variant, p.Variant)
		}
	}
	s := first.Server
	if len(s.Listeners) == 0 {
		return nil, nil, fmt.Errorf("%w: the scenario's server has no port", ErrUnrunnable)
	}
	l0 := s.Listeners[0]
	args := []string{"echo"}
	var ports []int
	for _, l := range s.Listeners {
		switch {
		case l.Protocol != "" && l.Protocol != loadgen.ProtoEcho:
			return nil, nil, fmt.Errorf("%w: server.protocol %s: the echo Deployment runs portex echo, which speaks echo only", ErrUnrunnable, l.Protocol)
		case l.IdleClose > 0:
			return nil, nil, fmt.Errorf("%w: server.close.idle: portex echo, which the echo Deployment runs, has no idle close; drop it for Kubernetes", ErrUnrunnable)
		case l.CloseFirst != l0.CloseFirst || l.CloseAfterBytes != l0.CloseAfterBytes:
			return nil, nil, fmt.Errorf("%w: server.close differs between ports, and portex echo applies one rule to every port", ErrUnrunnable)
		}
		args = append(args, "--listen", "0.0.0.0:"+strconv.Itoa(l.Port))
		ports = append(ports, l.Port)
	}
	if s.Backlog > 0 {
		args = append(args, "--backlog", strconv.Itoa(s.Backlog))
	}
	if l0.CloseFirst {
		args = append(args, "--close-after", strconv.FormatInt(l0.CloseAfterBytes, 10))
	}
	if s.LingerReset {
		args = append(args, "--reset")
	}
	return args, ports, nil
}

// podSysctls are the client's (the port range first) and the server's
// sysctls, which every variant must share: one Job and one Deployment
// serve them all. nofile is the highest a variant asks for.
func podSysctls(plans []*loadgen.Plan) (client, server []corev1.Sysctl, nofile uint64, err error) {
	clientOf := func(p *loadgen.Plan) []corev1.Sysctl {
		return toSysctls(sandbox.TopologyOf(p).Namespace(sandbox.NSClient).Sysctls)
	}
	client = clientOf(plans[0])
	server = toSysctls(sandbox.TopologyOf(plans[0]).Namespace(sandbox.NSServer).Sysctls)
	for _, p := range plans {
		nofile = max(nofile, p.Sandbox.Nofile)
		if c := clientOf(p); !reflect.DeepEqual(c, client) {
			return nil, nil, 0, fmt.Errorf("%w: variants %s and %s set different sysctls (%s and %s), and a pod's sysctls are fixed when it starts; "+
				"write the manifests of each with --variant", ErrUnrunnable, plans[0].Variant, p.Variant, sysctlList(client), sysctlList(c))
		}
	}
	return client, server, nofile, nil
}

func toSysctls(in []sandbox.Sysctl) []corev1.Sysctl {
	var out []corev1.Sysctl
	for _, s := range in {
		out = append(out, corev1.Sysctl{Name: s.Name, Value: s.Value})
	}
	return out
}

func sysctlList(s []corev1.Sysctl) string {
	if len(s) == 0 {
		return "none"
	}
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = x.Name + "=" + x.Value
	}
	return strings.Join(parts, " ")
}

// unsafeWhy explains the sysctls portex scenarios set that no release
// made safe.
var unsafeWhy = map[string]string{
	"net.ipv4.tcp_tw_reuse":       "a new pod's namespace starts with 2, which reuses TIME_WAIT ports towards loopback only: towards a Service that is 0 in effect, so the scenario's 0 can be dropped for Kubernetes",
	"net.ipv4.tcp_max_tw_buckets": "it bounds the TIME_WAIT sockets a namespace keeps, and the kubelet does not count it as isolated",
	"net.ipv4.tcp_timestamps":     "it changes what every connection of the pod sends, and the kubelet does not count it as isolated",
	"net.core.somaxconn":          "it raises how much a listen queue may hold, memory the pod's limits do not bound",
}

// checkSysctls refuses, unless allow, a sysctl outside release v's safe
// set, naming each and why; with allow, the notes say what the kubelets
// must let in.
func checkSysctls(v Version, key string, sysctls []corev1.Sysctl, allow bool) ([]string, error) {
	var unsafe []string
	var why []string
	for _, s := range sysctls {
		if IsSafe(v, s.Name) {
			continue
		}
		unsafe = append(unsafe, s.Name)
		if safe, ok := safeSince(s.Name); ok {
			why = append(why, fmt.Sprintf("%s is safe from Kubernetes %s on (needs Linux %s), not in %s", s.Name, safe.Since, orAny(safe.Kernel), v))
		} else if w, ok := unsafeWhy[s.Name]; ok {
			why = append(why, fmt.Sprintf("%s is not in the kubelet's safe set: %s", s.Name, w))
		} else {
			why = append(why, fmt.Sprintf("%s is not in the kubelet's safe set", s.Name))
		}
	}
	if len(unsafe) == 0 {
		return nil, nil
	}
	list := strings.Join(unsafe, ",")
	if !allow {
		return nil, fmt.Errorf("%w: %s: %s. A pod with a sysctl outside the safe set is scheduled and then fails to start, unless each node's kubelet runs with --allowed-unsafe-sysctls=%s: "+
			"drop it from the scenario, or pass --allow-unsafe-sysctls to write it into the manifests anyway",
			ErrUnsafeSysctl, key, strings.Join(why, "; "), list)
	}
	return []string{fmt.Sprintf("%s: %s put into the pods outside the safe set of Kubernetes %s: each node's kubelet needs --allowed-unsafe-sysctls=%s (or allowedUnsafeSysctls in its configuration), else the pods fail to start (SysctlForbidden)",
		key, list, v, list)}, nil
}

func orAny(kernel string) string {
	if kernel == "" {
		return "any"
	}
	return kernel
}

// restricted is the security context of every container: the platform
// sets the sysctls and limits, portex only reads them back.
func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr(true),
		RunAsUser:                ptr(int64(65534)),
		RunAsGroup:               ptr(int64(65534)),
		AllowPrivilegeEscalation: ptr(false),
		ReadOnlyRootFilesystem:   ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func ptr[T any](v T) *T { return &v }

// podSecurity is a pod's security context: its sysctls, or none.
func podSecurity(sysctls []corev1.Sysctl) *corev1.PodSecurityContext {
	if len(sysctls) == 0 {
		return nil
	}
	return &corev1.PodSecurityContext{Sysctls: sysctls}
}

func containerPorts(ports []int) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for _, p := range ports {
		out = append(out, corev1.ContainerPort{Name: portName(p), ContainerPort: int32(p), Protocol: corev1.ProtocolTCP})
	}
	return out
}

func portName(p int) string { return "echo-" + strconv.Itoa(p) }

func echoDeployment(n names, o Options, args []string, ports []int, sysctls []corev1.Sysctl) *appsv1.Deployment {
	sel := labels(n.base, "echo")
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(n.echo, n.base, "echo", o.Namespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(sel)},
				Spec: corev1.PodSpec{
					SecurityContext:              podSecurity(sysctls),
					AutomountServiceAccountToken: ptr(false),
					Containers: []corev1.Container{{
						Name:            "echo",
						Image:           o.Image,
						Args:            args,
						Ports:           containerPorts(ports),
						SecurityContext: restricted(),
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(ports[0]))}},
							PeriodSeconds: 2,
						},
					}},
				},
			},
		},
	}
}

func echoService(n names, o Options, ports []int) *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(n.echo, n.base, "echo", o.Namespace),
		Spec: corev1.ServiceSpec{
			Selector: labels(n.base, "echo"),
			Type:     corev1.ServiceTypeClusterIP,
		},
	}
	if o.Service == ServiceHeadless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: portName(p), Port: int32(p), TargetPort: intstr.FromInt32(int32(p)), Protocol: corev1.ProtocolTCP,
		})
	}
	return svc
}

// ShardArgs is the command line of a shard's pod (after the image's
// entrypoint, portex): portex run, in the pod runtime, against the
// Service, shard $(JOB_COMPLETION_INDEX) of shards, its result printed
// for kubectl logs.
func ShardArgs(scenarioPath, service string, shards int, variants []string) []string {
	args := []string{"run", scenarioPath,
		"--runtime", "pod", "--target", service, "--allow-external-target",
		"--shard", fmt.Sprintf("$(JOB_COMPLETION_INDEX)/%d", shards),
		"--out", outDir, "--force", "--quiet", "--print-result"}
	if len(variants) > 0 {
		args = append(args, "--variant", strings.Join(variants, ","))
	}
	return args
}

func shardJob(n names, o Options, sysctls []corev1.Sysctl) *batchv1.Job {
	var total time.Duration
	for _, p := range o.Plans {
		total += p.Duration
	}
	deadline := int64((total + jobStartSlack) / time.Second)
	shards := int32(o.Shards)
	lbl := labels(n.base, "shard")
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta(n.job, n.base, "shard", o.Namespace),
		Spec: batchv1.JobSpec{
			CompletionMode:        ptr(batchv1.IndexedCompletion),
			Completions:           &shards,
			Parallelism:           ptr(shards),
			BackoffLimit:          ptr(int32(0)),
			ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					SecurityContext:              podSecurity(sysctls),
					AutomountServiceAccountToken: ptr(false),
					Containers: []corev1.Container{{
						Name:  "shard",
						Image: o.Image,
						Args:  ShardArgs(scenarioDir+"/"+scenarioFile, n.echo, o.Shards, o.Variants),
						Env: []corev1.EnvVar{{
							Name: "JOB_COMPLETION_INDEX",
							ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
								FieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']",
							}},
						}},
						SecurityContext: restricted(),
						VolumeMounts: []corev1.VolumeMount{
							{Name: "scenario", MountPath: scenarioDir, ReadOnly: true},
							{Name: "out", MountPath: outDir},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "scenario", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: n.scenario},
						}}},
						{Name: "out", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
}
