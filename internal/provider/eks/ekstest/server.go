// Package ekstest is a protocol-level test server for the EKS provider:
// an HTTP server speaking the EKS REST API (the routes and JSON fields of
// the operations the provider calls, as the AWS SDK for Go v2 serializes
// them) to the real SDK client, backed by a small model of clusters and
// their managed node groups.
//
// It is test support: only _test.go files import it.
package ekstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	fleetv1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/upgrade"
)

// Server speaks the EKS REST API, backed by a model of clusters and node groups:
// an update is InProgress for a few DescribeUpdate polls, then Successful
// (the cluster or node group moves) or Failed with the error EKS would
// report. The region of a request is the one its SigV4 signature names,
// as for AWS. It implements the scenario harness's Cloud.
type Server struct {
	t      testing.TB
	server *httptest.Server

	mu sync.Mutex
	// catalogue are DescribeClusterVersions' entries by region.
	catalogue map[string][]fakeVersion
	clusters  map[string]*fakeCluster // by name: the tests' clusters have distinct names
	nextID    int
	// pollsToFinish is how many DescribeUpdate reads an update stays
	// InProgress for.
	pollsToFinish int
	// calls counts requests by operation, e.g. "UpdateClusterVersion".
	calls map[string]int
}

type fakeVersion struct {
	minor, patch, platform, status string
	// released is the build date of the minor's newest AMI release.
	released string
}

type fakeCluster struct {
	region, name              string
	version, platform, status string
	nodegroups                map[string]*fakeNodegroup
	updates                   []*fakeUpdate
	requests                  int
	failNext                  string
	held                      bool
}

type fakeNodegroup struct {
	name, version, release, amiType, status string
	desired, maxUnavailable                 int32
}

type fakeUpdate struct {
	id, nodegroup, status string
	token                 string
	created               time.Time
	version, release      string
	errors                []string
	polls                 int
	fail                  string
}

// New starts a server whose regions offer 1.35 to 1.37 (eu-south-2 only
// up to 1.36), stopped when the test ends.
func New(t testing.TB) *Server {
	f := &Server{
		t: t, clusters: map[string]*fakeCluster{}, pollsToFinish: 3, calls: map[string]int{},
		catalogue: map[string][]fakeVersion{},
	}
	full := []fakeVersion{
		{minor: "1.35", patch: "1.35.6", platform: "eks.12", status: "EXTENDED_SUPPORT", released: "20261020"},
		{minor: "1.36", patch: "1.36.3", platform: "eks.7", status: "STANDARD_SUPPORT", released: "20261101"},
		{minor: "1.37", patch: "1.37.2", platform: "eks.2", status: "STANDARD_SUPPORT", released: "20261115"},
	}
	f.catalogue["us-west-2"] = full
	f.catalogue["eu-west-1"] = full
	f.catalogue["us-east-1"] = full
	f.catalogue["eu-south-2"] = full[:2]
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cluster-versions", f.describeClusterVersions)
	mux.HandleFunc("GET /clusters/{name}", f.describeCluster)
	mux.HandleFunc("POST /clusters/{name}/updates", f.updateClusterVersion)
	mux.HandleFunc("GET /clusters/{name}/updates", f.listUpdates)
	mux.HandleFunc("GET /clusters/{name}/updates/{id}", f.describeUpdate)
	mux.HandleFunc("GET /clusters/{name}/node-groups", f.listNodegroups)
	mux.HandleFunc("GET /clusters/{name}/node-groups/{ng}", f.describeNodegroup)
	mux.HandleFunc("POST /clusters/{name}/node-groups/{ng}/update-version", f.updateNodegroupVersion)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.fail(w, http.StatusNotFound, "UnknownOperationException", r.Method+" "+r.URL.Path+" is not an operation of this server")
	})
	f.server = httptest.NewServer(mux)
	t.Cleanup(f.server.Close)
	return f
}

// URL is the server's endpoint, for the provider's endpoint override.
func (f *Server) URL() string { return f.server.URL }

// Credentials are static credentials for the SDK to sign its requests
// with (the server reads only the region they are signed for). Keep the
// SDK's own HTTP client: a plain one cannot take the CA bundle
// AWS_CA_BUNDLE names; the server speaks plain HTTP.
func (f *Server) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKIDFLOTILLATEST", "secret", "")
}

// AddCluster adds an ACTIVE cluster on version (a minor, "1.36") with
// AL2023 managed node groups of 3 nodes on the same version and the
// region's newest release for it, each with updateConfig maxUnavailable 1.
func (f *Server) AddCluster(region, name, version string, groups ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.version(region, version)
	c := &fakeCluster{region: region, name: name, version: version, platform: v.platform, status: clusterActive, nodegroups: map[string]*fakeNodegroup{}}
	for _, g := range groups {
		c.nodegroups[g] = &fakeNodegroup{
			name: g, version: version, release: v.patch + "-" + v.released, amiType: "AL2023_x86_64_STANDARD",
			status: "ACTIVE", desired: 3, maxUnavailable: 1,
		}
	}
	f.clusters[name] = c
}

// Spec is the provider setting of a member that is the cluster.
func (f *Server) Spec(name string) fleetv1.ProviderSpec {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.clusters[name]
	return fleetv1.ProviderSpec{Type: fleetv1.ProviderEKS, EKS: &fleetv1.EKSProvider{Region: c.region, Cluster: c.name}}
}

func (f *Server) version(region, minor string) fakeVersion {
	for _, v := range f.catalogue[region] {
		if v.minor == minor {
			return v
		}
	}
	return fakeVersion{minor: minor, patch: minor + ".0", platform: "eks.1", released: "20260101"}
}

// Versions is what the cluster's API server and nodes report: the minor's
// patch with EKS's suffix, each node group's kubelet and AMI release.
func (f *Server) Versions(member string) upgrade.Versions {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cluster(member)
	v := upgrade.Versions{ControlPlane: "v" + f.version(c.region, c.version).patch + "-eks-" + strings.TrimPrefix(c.platform, "eks.")}
	for _, name := range sortedKeys(c.nodegroups) {
		g := c.nodegroups[name]
		if k := "v" + f.version(c.region, g.version).patch + "-eks"; !slices.Contains(v.Kubelets, k) {
			v.Kubelets = append(v.Kubelets, k)
		}
		if !slices.Contains(v.NodeImages, g.release) {
			v.NodeImages = append(v.NodeImages, g.release)
		}
	}
	return v
}

func (f *Server) FailUpgrade(member, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cluster(member).failNext = message
}

func (f *Server) Hold(member string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cluster(member).held = true
}

func (f *Server) Release(member string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cluster(member).held = false
}

// UpgradeRequests counts the requests that made an update: a request
// EKS refused, or one whose client request token named an update already
// made, starts nothing.
func (f *Server) UpgradeRequests(member string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cluster(member).requests
}

// Nodegroup is a managed node group as the model has it.
type Nodegroup struct {
	Name, Version, Release, AMIType, Status string
}

// Nodegroup returns a node group of a cluster.
func (f *Server) Nodegroup(cluster, name string) Nodegroup {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.cluster(cluster).nodegroups[name]
	if g == nil {
		f.t.Fatalf("fake EKS cluster %s has no node group %s", cluster, name)
	}
	return Nodegroup{Name: g.name, Version: g.version, Release: g.release, AMIType: g.amiType, Status: g.status}
}

// SetRelease makes a node group run another AMI release.
func (f *Server) SetRelease(cluster, nodegroup, release string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cluster(cluster).nodegroups[nodegroup].release = release
}

// Update is an update as the model made it, with what was asked.
type Update struct {
	ID, Nodegroup, Status, Version, Release string
}

// Updates are the updates of a cluster and its node groups, oldest first.
func (f *Server) Updates(cluster string) []Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Update
	for _, u := range f.cluster(cluster).updates {
		out = append(out, Update{ID: u.id, Nodegroup: u.nodegroup, Status: u.status, Version: u.version, Release: u.release})
	}
	return out
}

// Calls counts the requests of an operation ("UpdateClusterVersion").
func (f *Server) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *Server) cluster(name string) *fakeCluster {
	c, ok := f.clusters[name]
	if !ok {
		f.t.Fatalf("fake EKS has no cluster %q", name)
	}
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var credentialRegion = regexp.MustCompile(`Credential=[^/]+/\d{8}/([^/]+)/eks/aws4_request`)

// lookup finds the request's cluster in the region its signature names.
func (f *Server) lookup(w http.ResponseWriter, r *http.Request, op string) (*fakeCluster, bool) {
	f.calls[op]++
	m := credentialRegion.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		f.fail(w, http.StatusForbidden, "UnrecognizedClientException", "the request is not signed for EKS")
		return nil, false
	}
	c, ok := f.clusters[r.PathValue("name")]
	if !ok || c.region != m[1] {
		f.fail(w, http.StatusNotFound, "ResourceNotFoundException", "No cluster found for name: "+r.PathValue("name")+".")
		return nil, false
	}
	return c, true
}

func (f *Server) fail(w http.ResponseWriter, code int, typ, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": message})
}

func (f *Server) reply(w http.ResponseWriter, body any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(body); err != nil {
		f.t.Errorf("fake EKS: encoding a reply: %v", err)
	}
}

// EKS's words, as the API spells them.
const (
	statusInProgress = "InProgress"
	statusFailed     = "Failed"
	statusSuccessful = "Successful"
	versionUpdate    = "VersionUpdate"
	clusterActive    = "ACTIVE"
	clusterUpdating  = "UPDATING"
)

// minor reads an EKS version ("1.36").
func minor(v string) (major, minor int) {
	_, _ = fmt.Sscanf(v, "%d.%d", &major, &minor)
	return major, minor
}

func nextMinor(v string) string {
	ma, mi := minor(v)
	return fmt.Sprintf("%d.%d", ma, mi+1)
}

// newer reports whether EKS version a is newer than b.
func newer(a, b string) bool {
	aMa, aMi := minor(a)
	bMa, bMi := minor(b)
	return aMa > bMa || (aMa == bMa && aMi > bMi)
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (f *Server) describeClusterVersions(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["DescribeClusterVersions"]++
	m := credentialRegion.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		f.fail(w, http.StatusForbidden, "UnrecognizedClientException", "the request is not signed for EKS")
		return
	}
	wanted := r.URL.Query()["clusterVersions"]
	var out []map[string]any
	for i, v := range f.catalogue[m[1]] {
		if len(wanted) > 0 && !slices.Contains(wanted, v.minor) {
			continue
		}
		out = append(out, map[string]any{
			"clusterVersion": v.minor, "clusterType": "eks", "defaultPlatformVersion": v.platform,
			"defaultVersion": i == len(f.catalogue[m[1]])-1, "kubernetesPatchVersion": v.patch,
			"versionStatus": v.status, "status": strings.ToLower(strings.ReplaceAll(v.status, "_SUPPORT", "-support")),
		})
	}
	f.reply(w, map[string]any{"clusterVersions": out})
}

func (f *Server) describeCluster(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.lookup(w, r, "DescribeCluster")
	if !ok {
		return
	}
	f.reply(w, map[string]any{"cluster": map[string]any{
		"name": c.name, "arn": "arn:aws:eks:" + c.region + ":111122223333:cluster/" + c.name,
		"version": c.version, "platformVersion": c.platform, "status": c.status,
		"endpoint": "https://" + strings.ToUpper(c.name) + ".gr7." + c.region + ".eks.amazonaws.com",
	}})
}

func (f *Server) listNodegroups(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.lookup(w, r, "ListNodegroups")
	if !ok {
		return
	}
	f.reply(w, map[string]any{"nodegroups": sortedKeys(c.nodegroups)})
}

func (f *Server) describeNodegroup(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.lookup(w, r, "DescribeNodegroup")
	if !ok {
		return
	}
	g, ok := c.nodegroups[r.PathValue("ng")]
	if !ok {
		f.fail(w, http.StatusNotFound, "ResourceNotFoundException", "No node group found for name: "+r.PathValue("ng")+".")
		return
	}
	f.reply(w, map[string]any{"nodegroup": map[string]any{
		"nodegroupName": g.name, "clusterName": c.name, "version": g.version, "releaseVersion": g.release,
		"amiType": g.amiType, "status": g.status, "capacityType": "ON_DEMAND",
		"scalingConfig": map[string]any{"minSize": 1, "maxSize": g.desired + 2, "desiredSize": g.desired},
		"updateConfig":  map[string]any{"maxUnavailable": g.maxUnavailable},
	}})
}

// inProgress is the cluster's update in progress, if any: EKS takes one
// update of a cluster or its node groups' versions at a time here (real
// EKS can update several node groups at once; the provider never asks).
func (c *fakeCluster) inProgress() *fakeUpdate {
	for _, u := range c.updates {
		if u.status == statusInProgress {
			return u
		}
	}
	return nil
}

func (f *Server) byToken(c *fakeCluster, token string) *fakeUpdate {
	for _, u := range c.updates {
		if token != "" && u.token == token {
			return u
		}
	}
	return nil
}

func (f *Server) newUpdate(c *fakeCluster, nodegroup, token, version, release string) *fakeUpdate {
	f.nextID++
	u := &fakeUpdate{
		id: fmt.Sprintf("%08x-0000-4000-8000-%012d", f.nextID, f.nextID), nodegroup: nodegroup, status: statusInProgress,
		token: token, created: time.Now(), version: version, release: release, fail: c.failNext,
	}
	c.failNext = ""
	c.updates = append(c.updates, u)
	c.requests++
	return u
}

func (f *Server) updateClusterVersion(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.lookup(w, r, "UpdateClusterVersion")
	if !ok {
		return
	}
	var in struct {
		Version            string `json:"version"`
		ClientRequestToken string `json:"clientRequestToken"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		f.fail(w, http.StatusBadRequest, "InvalidRequestException", err.Error())
		return
	}
	if u := f.byToken(c, in.ClientRequestToken); u != nil {
		f.reply(w, map[string]any{"update": f.updateJSON(u)})
		return
	}
	if u := c.inProgress(); u != nil || c.status != clusterActive {
		f.fail(w, http.StatusConflict, "ResourceInUseException", "Cluster has an update in progress")
		return
	}
	if next := nextMinor(c.version); in.Version != next {
		f.fail(w, http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf("Unsupported Kubernetes minor version update from %s to %s", c.version, in.Version))
		return
	}
	if !slices.ContainsFunc(f.catalogue[c.region], func(v fakeVersion) bool { return v.minor == in.Version }) {
		f.fail(w, http.StatusBadRequest, "InvalidParameterException", "Kubernetes version "+in.Version+" is not supported in "+c.region)
		return
	}
	u := f.newUpdate(c, "", in.ClientRequestToken, in.Version, "")
	c.status = clusterUpdating
	f.reply(w, map[string]any{"update": f.updateJSON(u)})
}

func (f *Server) updateNodegroupVersion(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.lookup(w, r, "UpdateNodegroupVersion")
	if !ok {
		return
	}
	g, ok := c.nodegroups[r.PathValue("ng")]
	if !ok {
		f.fail(w, http.StatusNotFound, "ResourceNotFoundException", "No node group found for name: "+r.PathValue("ng")+".")
		return
	}
	var in struct {
		Version            string `json:"version"`
		ReleaseVersion     string `json:"releaseVersion"`
		ClientRequestToken string `json:"clientRequestToken"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		f.fail(w, http.StatusBadRequest, "InvalidRequestException", err.Error())
		return
	}
	if u := f.byToken(c, in.ClientRequestToken); u != nil {
		f.reply(w, map[string]any{"update": f.updateJSON(u)})
		return
	}
	if u := c.inProgress(); u != nil {
		f.fail(w, http.StatusConflict, "ResourceInUseException", "Nodegroup "+g.name+" cannot be updated while an update is in progress")
		return
	}
	version := in.Version
	if version == "" {
		version = g.version
	}
	if newer(version, c.version) {
		f.fail(w, http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf("Requested Kubernetes version %s is newer than the cluster's %s", version, c.version))
		return
	}
	release := in.ReleaseVersion
	if release == "" {
		v := f.version(c.region, version)
		release = v.patch + "-" + v.released
	}
	u := f.newUpdate(c, g.name, in.ClientRequestToken, in.Version, release)
	g.status = "UPDATING"
	f.reply(w, map[string]any{"update": f.updateJSON(u)})
}

func (f *Server) listUpdates(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.lookup(w, r, "ListUpdates")
	if !ok {
		return
	}
	ng := r.URL.Query().Get("nodegroupName")
	ids := []string{}
	for _, u := range c.updates {
		if u.nodegroup == ng {
			ids = append(ids, u.id)
		}
	}
	f.reply(w, map[string]any{"updateIds": ids})
}

// describeUpdate reads an update, which moves it on: after pollsToFinish
// reads of an un-held update it succeeds (the cluster or node group is at
// its new version) or fails with the message FailUpgrade gave.
func (f *Server) describeUpdate(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.lookup(w, r, "DescribeUpdate")
	if !ok {
		return
	}
	var u *fakeUpdate
	for _, cand := range c.updates {
		if cand.id == r.PathValue("id") && cand.nodegroup == r.URL.Query().Get("nodegroupName") {
			u = cand
		}
	}
	if u == nil {
		f.fail(w, http.StatusNotFound, "ResourceNotFoundException", "No update found for ID: "+r.PathValue("id")+".")
		return
	}
	if u.status == statusInProgress && !c.held {
		u.polls++
		if u.polls >= f.pollsToFinish {
			f.finish(c, u)
		}
	}
	f.reply(w, map[string]any{"update": f.updateJSON(u)})
}

func (f *Server) finish(c *fakeCluster, u *fakeUpdate) {
	if u.fail != "" {
		u.status = statusFailed
		u.errors = []string{u.fail}
		if u.nodegroup == "" {
			c.status = clusterActive
		} else {
			c.nodegroups[u.nodegroup].status = "ACTIVE"
		}
		return
	}
	u.status = statusSuccessful
	if u.nodegroup == "" {
		c.version, c.platform, c.status = u.version, f.version(c.region, u.version).platform, clusterActive
		return
	}
	g := c.nodegroups[u.nodegroup]
	if u.version != "" {
		g.version = u.version
	}
	g.release, g.status = u.release, "ACTIVE"
}

func (f *Server) updateJSON(u *fakeUpdate) map[string]any {
	params := []map[string]string{}
	if u.version != "" {
		params = append(params, map[string]string{"type": "Version", "value": u.version})
	}
	if u.nodegroup != "" && u.release != "" {
		params = append(params, map[string]string{"type": "ReleaseVersion", "value": u.release})
	}
	errs := []map[string]any{}
	for _, e := range u.errors {
		resource := u.nodegroup
		if resource == "" {
			resource = "cluster"
		}
		errs = append(errs, map[string]any{"errorCode": "Unknown", "errorMessage": e, "resourceIds": []string{resource}})
	}
	return map[string]any{
		"id": u.id, "status": u.status, "type": versionUpdate, "createdAt": epoch(u.created),
		"params": params, "errors": errs,
	}
}
