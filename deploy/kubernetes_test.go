package deploy

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/heliosdb/heliosproxy/config"
)

// The parts of the Kubernetes API the manifests use; decodeStrict fails
// on any other key, so a misspelt one is caught. The machines have no
// cluster and no kubeconform: the manifests are checked statically, as
// compose.yaml is.

type k8sMeta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type k8sHeader struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
}

type k8sSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	TimeoutSeconds   int `yaml:"timeoutSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

type k8sPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type k8sEnv struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type k8sContainer struct {
	Name           string    `yaml:"name"`
	Image          string    `yaml:"image"`
	Args           []string  `yaml:"args"`
	Ports          []k8sPort `yaml:"ports"`
	Env            []k8sEnv  `yaml:"env"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type k8sDeployment struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		Replicas int         `yaml:"replicas"`
		Selector k8sSelector `yaml:"selector"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable int `yaml:"maxUnavailable"`
				MaxSurge       int `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
					RunAsUser    int  `yaml:"runAsUser"`
					RunAsGroup   int  `yaml:"runAsGroup"`
					FSGroup      int  `yaml:"fsGroup"`
				} `yaml:"securityContext"`
				Affinity struct {
					PodAntiAffinity struct {
						Preferred []struct {
							Weight          int `yaml:"weight"`
							PodAffinityTerm struct {
								TopologyKey   string      `yaml:"topologyKey"`
								LabelSelector k8sSelector `yaml:"labelSelector"`
							} `yaml:"podAffinityTerm"`
						} `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
					} `yaml:"podAntiAffinity"`
				} `yaml:"affinity"`
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
					EmptyDir *struct{} `yaml:"emptyDir"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sService struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		Type                     string            `yaml:"type"`
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
			Protocol   string `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sPDB struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		MinAvailable int         `yaml:"minAvailable"`
		Selector     k8sSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type k8sConfigMap struct {
	k8sHeader `yaml:",inline"`
	Data      map[string]string `yaml:"data"`
}

type k8sSecret struct {
	k8sHeader  `yaml:",inline"`
	Type       string            `yaml:"type"`
	StringData map[string]string `yaml:"stringData"`
}

// selects reports whether a selector's labels all appear in labels.
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestKubernetes decodes deploy/kubernetes strictly and checks the shape
// the issue asks for and that its parts fit together: kustomization lists
// every file; a Deployment of 3 replicas whose pods the Services and the
// PodDisruptionBudget select; liveness on /health and readiness on /ready
// of the API port; the configuration from the ConfigMap loads as the
// binary loads it (config.Load) with [cluster] joining the headless
// gossip Service on the port the pods expose (TCP and UDP) under each
// pod's name and address; every secret from the Secret, which holds only
// placeholders.
func TestKubernetes(t *testing.T) {
	const dir = "kubernetes"
	var kust struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Resources  []string `yaml:"resources"`
	}
	decodeStrict(t, filepath.Join(dir, "kustomization.yaml"), &kust)
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var want []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			want = append(want, b)
		}
	}
	got := slices.Sorted(slices.Values(kust.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want every manifest %v", got, want)
	}

	var dep k8sDeployment
	var svc, gossip k8sService
	var pdb k8sPDB
	var cm k8sConfigMap
	var sec k8sSecret
	decodeStrict(t, filepath.Join(dir, "deployment.yaml"), &dep)
	decodeStrict(t, filepath.Join(dir, "service.yaml"), &svc)
	decodeStrict(t, filepath.Join(dir, "service-gossip.yaml"), &gossip)
	decodeStrict(t, filepath.Join(dir, "poddisruptionbudget.yaml"), &pdb)
	decodeStrict(t, filepath.Join(dir, "configmap.yaml"), &cm)
	decodeStrict(t, filepath.Join(dir, "secret.yaml"), &sec)
	for _, h := range []struct {
		k8sHeader
		apiVersion, kind string
	}{
		{dep.k8sHeader, "apps/v1", "Deployment"}, {svc.k8sHeader, "v1", "Service"}, {gossip.k8sHeader, "v1", "Service"},
		{pdb.k8sHeader, "policy/v1", "PodDisruptionBudget"}, {cm.k8sHeader, "v1", "ConfigMap"}, {sec.k8sHeader, "v1", "Secret"},
	} {
		if h.APIVersion != h.apiVersion || h.Kind != h.kind || h.Metadata.Name == "" {
			t.Errorf("%s %s: want %s %s with a name", h.APIVersion, h.Kind, h.apiVersion, h.kind)
		}
	}

	// The Deployment: 3 replicas, its own pods selected, one container.
	spec := dep.Spec
	pod := spec.Template.Metadata.Labels
	if spec.Replicas != 3 || !selects(spec.Selector.MatchLabels, pod) || len(spec.Template.Spec.Containers) != 1 {
		t.Fatalf("deployment: %d replicas, selector %v of pods %v, %d containers; want 3, its pods, 1",
			spec.Replicas, spec.Selector.MatchLabels, pod, len(spec.Template.Spec.Containers))
	}
	if !spec.Template.Spec.SecurityContext.RunAsNonRoot {
		t.Errorf("deployment: pods may run as root")
	}
	c := spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"run", "--config", "/etc/heliosproxy/heliosproxy.toml"}) {
		t.Errorf("container args %v", c.Args)
	}
	ports := map[string]k8sPort{}
	for _, p := range c.Ports {
		ports[p.Name] = p
	}
	for _, p := range []struct {
		name, proto string
		port        int
	}{{"postgres", "TCP", 6432}, {"api", "TCP", 8080}, {"metrics", "TCP", 9090}, {"gossip-tcp", "TCP", 7946}, {"gossip-udp", "UDP", 7946}} {
		if got := ports[p.name]; got.ContainerPort != p.port || got.Protocol != p.proto {
			t.Errorf("container port %s = %+v, want %d/%s", p.name, got, p.port, p.proto)
		}
	}
	if lp := c.LivenessProbe; lp == nil || lp.HTTPGet.Path != "/health" || lp.HTTPGet.Port != "api" {
		t.Errorf("liveness probe %+v, want GET /health on the api port", lp)
	}
	if rp := c.ReadinessProbe; rp == nil || rp.HTTPGet.Path != "/ready" || rp.HTTPGet.Port != "api" {
		t.Errorf("readiness probe %+v, want GET /ready on the api port", rp)
	}

	// The config file: mounted from the ConfigMap where args read it.
	mounted := ""
	for _, m := range c.VolumeMounts {
		for _, v := range spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name {
				mounted = m.MountPath
			}
		}
	}
	toml, ok := cm.Data["heliosproxy.toml"]
	if mounted != "/etc/heliosproxy" || !ok {
		t.Fatalf("config map %s mounted at %q with heliosproxy.toml %v; want /etc/heliosproxy", cm.Metadata.Name, mounted, ok)
	}

	// Secrets and pod fields reach the environment; every secret key the
	// Deployment reads is in the Secret, as a placeholder.
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := sec.StringData[ref.Key]
			if ref.Name != sec.Metadata.Name || !ok {
				t.Errorf("env %s from secret %s key %s: not in secret.yaml", e.Name, ref.Name, ref.Key)
			}
			if v != "REPLACE-ME" {
				t.Errorf("secret.yaml %s = %q: commit placeholders only", ref.Key, v)
			}
			env[e.Name] = "from-the-secret"
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = map[string]string{"metadata.name": "heliosproxy-7d9f-abcde", "status.podIP": "10.1.2.3"}[e.ValueFrom.FieldRef.FieldPath]
		default:
			t.Errorf("env %s = %q: want values from the Secret or the pod", e.Name, e.Value)
		}
	}
	env["HELIOS_CLUSTER_KEY"] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // a real key's shape
	for k, v := range env {
		t.Setenv(k, v)
	}
	path := filepath.Join(t.TempDir(), "heliosproxy.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := config.Load(path)
	if err != nil {
		t.Fatalf("configmap heliosproxy.toml: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("configmap heliosproxy.toml: warning %v", w)
	}
	if cfg.API.AdminToken != "from-the-secret" || cfg.HealthChecks.Password != "from-the-secret" {
		t.Errorf("admin token and monitor password do not come from the Secret")
	}

	// [cluster]: on, named after the pod, advertising its address, joining
	// the headless gossip Service on the pods' gossip port.
	cl := cfg.Cluster
	if !cl.Enabled || cl.NodeName != "heliosproxy-7d9f-abcde" || cl.AdvertiseAddress != "10.1.2.3:7946" || len(cl.Key()) != 32 {
		t.Errorf("cluster %+v: want enabled, the pod's name and address, the Secret's key", cl)
	}
	_, bindPort, _ := net.SplitHostPort(cl.BindAddress)
	if bindPort != strconv.Itoa(ports["gossip-udp"].ContainerPort) {
		t.Errorf("cluster.bind_address %s: not the pods' gossip port", cl.BindAddress)
	}
	if len(cl.Join) != 1 || !strings.HasPrefix(cl.Join[0], gossip.Metadata.Name+":") {
		t.Errorf("cluster.join %v, want the headless Service %s", cl.Join, gossip.Metadata.Name)
	}
	if gossip.Spec.ClusterIP != "None" || !gossip.Spec.PublishNotReadyAddresses || !selects(gossip.Spec.Selector, pod) {
		t.Errorf("gossip service: clusterIP %q, publishNotReadyAddresses %v, selector %v; want headless, not-ready pods too, the proxy's pods",
			gossip.Spec.ClusterIP, gossip.Spec.PublishNotReadyAddresses, gossip.Spec.Selector)
	}
	protos := map[string]bool{}
	for _, p := range gossip.Spec.Ports {
		if tp, ok := ports[p.TargetPort]; !ok || tp.Protocol != p.Protocol || strconv.Itoa(p.Port) != strings.TrimPrefix(cl.Join[0], gossip.Metadata.Name+":") {
			t.Errorf("gossip service port %+v does not match the join address or a container port", p)
		}
		protos[p.Protocol] = true
	}
	if !protos["TCP"] || !protos["UDP"] {
		t.Errorf("gossip service protocols %v, want TCP and UDP (memberlist uses both)", protos)
	}

	// The client Service: every port to a named container port that the
	// configuration listens on.
	if !selects(svc.Spec.Selector, pod) {
		t.Errorf("service selector %v does not select the proxy's pods", svc.Spec.Selector)
	}
	listens := map[string]string{
		"postgres": cfg.Proxy.ListenAddress, "api": cfg.API.ListenAddress, "metrics": "0.0.0.0:" + strconv.Itoa(cfg.Observability.MetricsPort),
	}
	for _, p := range svc.Spec.Ports {
		_, port, _ := net.SplitHostPort(listens[p.TargetPort])
		if cp, ok := ports[p.TargetPort]; !ok || strconv.Itoa(cp.ContainerPort) != port {
			t.Errorf("service port %s targets %s, which the proxy does not listen on (config %q)", p.Name, p.TargetPort, listens[p.TargetPort])
		}
	}

	// The PodDisruptionBudget keeps a majority of the replicas.
	if !selects(pdb.Spec.Selector.MatchLabels, pod) || 2*pdb.Spec.MinAvailable <= spec.Replicas {
		t.Errorf("pdb: selector %v, minAvailable %d of %d replicas; want the proxy's pods and a majority",
			pdb.Spec.Selector.MatchLabels, pdb.Spec.MinAvailable, spec.Replicas)
	}
}
