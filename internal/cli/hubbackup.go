package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/backup"
	"github.com/flotilla-dev/flotilla/internal/crdinstall"
	"github.com/flotilla-dev/flotilla/internal/enrollment"
)

// outputIsFile marks a command whose -o names a file, not a format.
const outputIsFile = "flotilla.dev/output-is-file"

// envBackupPassphrase holds a backup's passphrase for scripts and CronJobs.
const envBackupPassphrase = "FLOTILLA_BACKUP_PASSPHRASE"

// hubLeaseName is the hub controllers' leader-election Lease.
const hubLeaseName = "flotilla-hub"

func newHubBackupCommand(g *globalOptions) *cobra.Command {
	var (
		passphraseFile string
		recipients     []string
		keep           int
	)
	cmd := &cobra.Command{
		Use:   "backup -o FILE|DIR/",
		Short: "Write the fleet's state (members and their credentials, strategies, runs, gates, placements, Works) to one file",
		Long: `Write the fleet's state from the hub to one file: MemberClusters and the
Secrets holding their credentials, member agents' hub identities, update
strategies, update runs with their status, gates, placements, overrides,
resource snapshots, bindings and Works, and the hub objects placements select
(without them a restored hub would take what they placed off the members).

The file holds every member's credentials. Encrypt it with age: to a
passphrase (--passphrase-file, or $FLOTILLA_BACKUP_PASSPHRASE) or to one or
more age recipients (--recipient age1...). Without either it is written in
the clear, with a warning.

With -o naming a directory (an existing one, or a path ending in /), the file
is named fleet-<UTC time>.json (.age when encrypted) in it, and --keep N
removes all but the newest N backups there: what a scheduled backup (the hub
chart's CronJob) does.`,
		Example: `  flotilla hub backup -o fleet-$(date +%F).json.age --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  FLOTILLA_BACKUP_PASSPHRASE=... flotilla hub backup -o fleet.json.age`,
		Annotations: map[string]string{outputIsFile: "true"},
		Args:        cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("output") || g.output == "" {
				return errors.New("-o FILE|DIR/ is required: where to write the backup")
			}
			_, err := backupEncryption(passphraseFile, recipients)
			return err
		},
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			enc, err := backupEncryption(passphraseFile, recipients)
			if err != nil {
				return err
			}
			archive, err := backup.Collect(cmd.Context(), hub, time.Now())
			if err != nil {
				return err
			}
			if cfg, err := g.restConfig(); err == nil {
				archive.Hub = cfg.Host
			}
			if enc.Passphrase == "" && len(enc.Recipients) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "Warning: the backup holds every member's credentials and is not encrypted; keep it as you keep those credentials, or pass --recipient or --passphrase-file.")
			}
			target, dir := backupTarget(g.output, enc, time.Now())
			// Written beside the target, then renamed: a failed backup never
			// replaces a good one.
			tmp := target + ".partial"
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return fmt.Errorf("writing the backup: %w", err)
			}
			if err := backup.Write(f, archive, enc); err != nil {
				_ = f.Close()
				_ = os.Remove(tmp)
				return fmt.Errorf("writing the backup: %w", err)
			}
			if err := f.Close(); err != nil {
				_ = os.Remove(tmp)
				return fmt.Errorf("writing the backup: %w", err)
			}
			if err := os.Rename(tmp, target); err != nil {
				return fmt.Errorf("writing the backup: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Backed up %d objects (%s) to %s\n", len(archive.Objects), countKinds(archive), target)
			if dir != "" && keep > 0 {
				removed, err := pruneBackups(dir, keep)
				for _, r := range removed {
					fmt.Fprintf(cmd.OutOrStdout(), "Removed the older backup %s\n", r)
				}
				return err
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&passphraseFile, "passphrase-file", "", "encrypt to the passphrase in this file (default: $"+envBackupPassphrase+" if set)")
	cmd.Flags().StringSliceVar(&recipients, "recipient", nil, "encrypt to this age public key (age1...); repeatable")
	cmd.Flags().IntVar(&keep, "keep", 0, "with -o DIR/: keep only the newest N backups in DIR (0 keeps all)")
	return cmd
}

// backupPrefix starts the names of backups written into a directory.
const backupPrefix = "fleet-"

// backupTarget is the file a backup goes to: output itself, or, for a
// directory, a file named by the time in it (and the directory).
func backupTarget(output string, enc backup.Encryption, now time.Time) (file, dir string) {
	info, err := os.Stat(output)
	if !strings.HasSuffix(output, "/") && (err != nil || !info.IsDir()) {
		return output, ""
	}
	name := backupPrefix + now.UTC().Format("20060102T150405Z") + ".json"
	if enc.Passphrase != "" || len(enc.Recipients) > 0 {
		name += ".age"
	}
	return filepath.Join(output, name), output
}

// pruneBackups removes all but the newest keep backups in dir (their names
// sort by time).
func pruneBackups(dir string, keep int) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && strings.HasPrefix(n, backupPrefix) && !strings.HasSuffix(n, ".partial") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var removed []string
	for len(names) > keep {
		path := filepath.Join(dir, names[0])
		if err := os.Remove(path); err != nil {
			return removed, err
		}
		removed = append(removed, path)
		names = names[1:]
	}
	return removed, nil
}

func newHubRestoreCommand(g *globalOptions) *cobra.Command {
	var (
		file, passphraseFile, identityFile string
		overwrite, force, installCRDs      bool
	)
	cmd := &cobra.Command{
		Use:   "restore -f FILE",
		Short: "Recreate the fleet's state from a backup on a hub, status included",
		Long: `Recreate a backup's objects on a hub, status included, owners first. Restore
onto a fresh hub before 'flotilla hub' starts there: runs then continue from
the status they were backed up with, and completed members are not upgraded
again. The fleet CRDs are installed first, as 'flotilla hub' installs them at
start, so that an empty cluster needs nothing else. Objects that exist already
are refused (nothing is created) unless --overwrite; a hub whose controllers
are running is refused unless --force.

Member agents need fresh hub credentials afterwards: their tokens were bound
to ServiceAccounts of the old hub. Run 'flotilla member join NAME' for each
hubful member and give its agent the new kubeconfig (see docs/backup.md).`,
		Example: `  flotilla hub restore -f fleet.json.age --identity ~/.config/age/fleet-key.txt`,
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if file == "" {
				return errors.New("-f FILE is required: the backup to restore")
			}
			return nil
		},
		RunE: onHub(g, func(cmd *cobra.Command, hub client.WithWatch) error {
			dec, err := backupDecryption(passphraseFile, identityFile)
			if err != nil {
				return err
			}
			f, err := os.Open(file)
			if err != nil {
				return fmt.Errorf("reading the backup: %w", err)
			}
			defer f.Close()
			archive, err := backup.Read(f, dec)
			if err != nil {
				return err
			}
			if !force {
				if err := refuseRunningHub(cmd, hub); err != nil {
					return err
				}
			}
			if installCRDs {
				crds, err := crd.All()
				if err != nil {
					return err
				}
				if err := crdinstall.Apply(cmd.Context(), hub, crds, time.Minute); err != nil {
					return fmt.Errorf("installing the fleet CRDs before restoring: %w", err)
				}
			}
			res, err := backup.Restore(cmd.Context(), hub, archive, backup.RestoreOptions{Overwrite: overwrite})
			if err != nil {
				return err
			}
			for _, d := range res.DroppedOwners {
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: dropped an owner reference whose owner is not in the backup: %s\n", d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Restored %d objects (%d created, %d replaced; %s) from the backup of %s taken %s\n",
				res.Created+res.Replaced, res.Created, res.Replaced, countKinds(archive), orDash(archive.Hub), archive.CreatedAt.Format(time.RFC3339))
			return nil
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the backup to restore")
	cmd.Flags().StringVar(&passphraseFile, "passphrase-file", "", "the backup's passphrase, in this file (default: $"+envBackupPassphrase+" if set)")
	cmd.Flags().StringVar(&identityFile, "identity", "", "an age identity file that opens the backup")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace objects that exist on the hub")
	cmd.Flags().BoolVar(&force, "force", false, "restore even while the hub's controllers are running")
	cmd.Flags().BoolVar(&installCRDs, "install-crds", true, "install or upgrade the fleet CRDs first, as 'flotilla hub' does at start")
	return cmd
}

func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

func backupPassphrase(passphraseFile string) (string, error) {
	if passphraseFile != "" {
		p, err := readSecretFile(passphraseFile)
		if err != nil {
			return "", fmt.Errorf("--passphrase-file: %w", err)
		}
		if p == "" {
			return "", fmt.Errorf("--passphrase-file %s is empty", passphraseFile)
		}
		return p, nil
	}
	return os.Getenv(envBackupPassphrase), nil
}

func backupEncryption(passphraseFile string, recipients []string) (backup.Encryption, error) {
	p, err := backupPassphrase(passphraseFile)
	if err != nil {
		return backup.Encryption{}, err
	}
	if p != "" && len(recipients) > 0 {
		return backup.Encryption{}, errors.New("encrypt to a passphrase or to --recipient keys, not both")
	}
	return backup.Encryption{Passphrase: p, Recipients: recipients}, nil
}

func backupDecryption(passphraseFile, identityFile string) (backup.Decryption, error) {
	p, err := backupPassphrase(passphraseFile)
	if err != nil {
		return backup.Decryption{}, err
	}
	dec := backup.Decryption{Passphrase: p}
	if identityFile != "" {
		ids, err := os.ReadFile(identityFile)
		if err != nil {
			return dec, fmt.Errorf("--identity: %w", err)
		}
		dec.Identities = string(ids)
	}
	return dec, nil
}

// refuseRunningHub refuses a restore onto a hub whose controllers hold a
// live lease: they would act on objects half restored.
func refuseRunningHub(cmd *cobra.Command, hub client.Reader) error {
	lease := &coordinationv1.Lease{}
	err := hub.Get(cmd.Context(), client.ObjectKey{Namespace: enrollment.Namespace, Name: hubLeaseName}, lease)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking whether the hub's controllers run: %w", err)
	}
	if lease.Spec.RenewTime == nil || lease.Spec.LeaseDurationSeconds == nil {
		return nil
	}
	expires := lease.Spec.RenewTime.Add(time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second)
	if time.Now().Before(expires) {
		holder := ""
		if lease.Spec.HolderIdentity != nil {
			holder = *lease.Spec.HolderIdentity
		}
		return fmt.Errorf("the hub's controllers are running (%s holds lease %s/%s): restore before starting 'flotilla hub', or pass --force", orDash(holder), enrollment.Namespace, hubLeaseName)
	}
	return nil
}

// countKinds summarises an archive as "3 MemberCluster, 1 UpdateRun, ...".
func countKinds(a *backup.Archive) string {
	counts := map[string]int{}
	for i := range a.Objects {
		counts[a.Objects[i].GetKind()]++
	}
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return strings.Join(parts, ", ")
}
