package hubexec

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
)

// Redacted replaces a credential in a program's output.
const Redacted = "[redacted]"

// minSecretLength keeps very short values (a one-letter password) from
// redacting every occurrence of a letter.
const minSecretLength = 4

// pemLineLength is the shortest line of a PEM body that is redacted on its
// own, for a program that prints a key line by line.
const pemLineLength = 16

// Credentials are the secrets of a kubeconfig, in the forms a program
// could print them: bearer tokens, passwords, client keys and certificates
// (as stored, base64-encoded as in the file, and each line of their PEM
// body), the values of exec plugins' environment and auth-provider
// settings. A kubeconfig that does not parse has none that can be found.
func Credentials(kubeconfig []byte) []string {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil
	}
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); len(s) >= minSecretLength {
			out = append(out, s)
		}
	}
	addData := func(data []byte) {
		if len(data) == 0 {
			return
		}
		add(string(data))
		add(base64.StdEncoding.EncodeToString(data))
		for line := range strings.SplitSeq(string(data), "\n") {
			if line = strings.TrimSpace(line); len(line) >= pemLineLength && !strings.HasPrefix(line, "-----") {
				add(line)
			}
		}
	}
	for _, u := range cfg.AuthInfos {
		add(u.Token)
		add(u.Password)
		addData(u.ClientKeyData)
		addData(u.ClientCertificateData)
		if u.Exec != nil {
			for _, e := range u.Exec.Env {
				add(e.Value)
			}
		}
		if u.AuthProvider != nil {
			for _, v := range u.AuthProvider.Config {
				add(v)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Redact replaces every occurrence of each secret in text with Redacted;
// the longest secrets first, so that one containing another goes whole.
func Redact(text string, secrets []string) string {
	if len(secrets) == 0 || text == "" {
		return text
	}
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(sorted))
	for _, s := range sorted {
		if s != "" {
			pairs = append(pairs, s, Redacted)
		}
	}
	return strings.NewReplacer(pairs...).Replace(text)
}
