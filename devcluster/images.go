package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/toolforge-go/toolforge/devcluster/internal/cluster"
	"github.com/toolforge-go/toolforge/devcluster/internal/images"
)

func newImages() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Build and list the image catalogue's images (cached in " + images.CacheDir() + ")",
	}
	cmd.AddCommand(newImagesBuild(), newImagesList(), newImagesPrune())
	return cmd
}

func newImagesBuild() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "build [NAME...] [--all]",
		Short: "Build images into the cache (names: python3.11, a repository name, pause)",
		Long: `Build images from Debian packages into the machine's image cache
($DEVCLUSTER_CACHE, else $XDG_CACHE_HOME/devcluster, else ~/.cache/devcluster).
A short name (python3.11) builds its jobs and web images. Layers already
cached are not built again. Needs root and mmdebstrap.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return cluster.UsageError{Msg: "name the images to build, or give --all"}
			}
			repos := images.AllRepos()
			if !all {
				repos = nil
				for _, a := range args {
					rs, err := images.Resolve(a)
					if err != nil {
						return cluster.UsageError{Msg: err.Error()}
					}
					for _, r := range rs {
						if !slices.Contains(repos, r) {
							repos = append(repos, r)
						}
					}
				}
			}
			b := images.NewBuilder("")
			var failed []string
			var first error
			for _, repo := range repos {
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				if err := buildOne(cmd, b, repo); err != nil {
					// Go on with the others: one image's packages missing
					// from the archive need not stop the rest.
					fmt.Fprintf(cmd.ErrOrStderr(), "images: %v\n", err)
					failed = append(failed, repo)
					if first == nil {
						first = err
					}
				}
			}
			if len(failed) == 1 {
				return first
			}
			if len(failed) > 1 {
				return fmt.Errorf("%d of %d images failed (%s); the first: %w", len(failed), len(repos), strings.Join(failed, ", "), first)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "build every image of the catalogue and the pause image")
	return cmd
}

func buildOne(cmd *cobra.Command, b *images.Builder, repo string) error {
	start := time.Now()
	img, err := b.Build(cmd.Context(), repo, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	st, err := b.Status(repo)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "built %s in %s (%s, %s)\n", images.Reference(repo),
		time.Since(start).Round(time.Millisecond), images.HumanSize(st.Size), digest)
	return nil
}

// imageRow is one line of `images list`.
type imageRow struct {
	Name       string   `json:"name"`
	Repository string   `json:"repository"`
	Reference  string   `json:"reference"`
	Suite      string   `json:"suite"`
	State      string   `json:"state"`
	Web        bool     `json:"web"`
	Packages   []string `json:"packages"`
	Cached     bool     `json:"cached"`
	Size       int64    `json:"size,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	// Unavailable says why the image cannot be built here.
	Unavailable string `json:"unavailable,omitempty"`
}

func newImagesList() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list [-o json]",
		Short: "List the catalogue's images and what the cache holds of them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" {
				return cluster.UsageError{Msg: fmt.Sprintf("-o %s: the only output format is json", output)}
			}
			b := images.NewBuilder("")
			var rows []imageRow
			add := func(r images.Recipe, repo string) error {
				row := imageRow{Name: r.Name, Repository: repo, Reference: images.Reference(repo), Suite: r.Suite,
					State: r.State, Web: repo == r.WebRepo(), Packages: r.Packages, Unavailable: r.Unavailable}
				if r.Unavailable != "" {
					rows = append(rows, row)
					return nil
				}
				st, err := b.Status(repo)
				if err != nil {
					return err
				}
				row.Cached = st.Cached
				if row.Web {
					row.Packages = append(slices.Clone(r.Packages), r.WebPackages...)
				}
				if st.Cached {
					row.Size, row.Digest = st.Size, st.Digest.String()
				}
				rows = append(rows, row)
				return nil
			}
			for _, r := range images.Recipes() {
				for _, repo := range r.Repos() {
					if err := add(r, repo); err != nil {
						return err
					}
				}
			}
			pause := images.Recipe{Name: images.PauseRepo, Suite: "bookworm", State: images.StateStable, Packages: []string{"catatonit"}}
			if err := add(pause, images.PauseRepo); err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tREPOSITORY\tSUITE\tSTATE\tCACHED\tSIZE\tDIGEST")
			for _, r := range rows {
				size, digest, cached := "-", "-", "no"
				if r.Unavailable != "" {
					cached = "unavailable (" + r.Unavailable + ")"
				}
				if r.Cached {
					size, digest, cached = images.HumanSize(r.Size), r.Digest, "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Repository, r.Suite, r.State, cached, size, digest)
			}
			fmt.Fprintf(tw, "\ncache: %s\n", strings.TrimSuffix(images.CacheDir(), "/"))
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

func newImagesPrune() *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "Remove cached layers that no image of the catalogue uses any more",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			freed, err := images.NewBuilder("").Prune()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "freed %s in %s\n", images.HumanSize(freed), images.CacheDir())
			return nil
		},
	}
}
