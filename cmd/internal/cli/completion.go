package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubepatrol/patrol/analysis"
	"github.com/kubepatrol/patrol/checks/catalog"
	"github.com/kubepatrol/patrol/rules"
)

// completionCmd prints shell completion scripts. Completion is dynamic:
// check IDs for --check and --skip, alert names for runbook, kinds for
// diagnose and contexts for --context come from the binary itself.
func completionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a completion script for your shell. Completion is dynamic: patrol itself
answers for check IDs (--check, --skip), alert names (runbook), object kinds
(diagnose) and kubeconfig contexts (--context).

  bash:        source <(patrol completion bash)
               # permanently: patrol completion bash > /etc/bash_completion.d/patrol
  zsh:         patrol completion zsh > "${fpath[1]}/_patrol"   # then start a new shell
  fish:        patrol completion fish > ~/.config/fish/completions/patrol.fish
  powershell:  patrol completion powershell | Out-String | Invoke-Expression

As a kubectl plugin (kubectl 1.26 or newer), kubectl completes "kubectl patrol …"
by running an executable named kubectl_complete-patrol; link it to patrol:

  ln -s "$(command -v patrol)" "$(dirname "$(command -v patrol)")/kubectl_complete-patrol"`,
		Args:                  cobra.ExactArgs(1),
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(g.stdout, true)
			case "zsh":
				return root.GenZshCompletion(g.stdout)
			case "fish":
				return root.GenFishCompletion(g.stdout, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(g.stdout)
			}
			return fmt.Errorf("unknown shell %q (want bash, zsh, fish or powershell)", args[0])
		},
	}
	return cmd
}

// PluginCompletionArgs turns the arguments of kubectl's plugin completion
// executable (kubectl_complete-patrol) into cobra's hidden __complete
// command; other invocations pass through.
func PluginCompletionArgs(argv0 string, args []string) []string {
	if baseName(argv0) == "kubectl_complete-patrol" {
		return append([]string{cobra.ShellCompRequestCmd}, args...)
	}
	return args
}

// completeChecks completes comma-separated check IDs and families.
func completeChecks(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	prefix, last := "", toComplete
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		prefix, last = toComplete[:i+1], toComplete[i+1:]
	}
	fams := map[string]bool{}
	var out []string
	for _, c := range catalog.All() {
		m := c.Meta()
		fam := strings.SplitN(m.ID, ".", 2)[0]
		if !fams[fam] && strings.HasPrefix(fam, last) {
			fams[fam] = true
			out = append(out, prefix+fam+"\tevery "+fam+" check")
		}
		if strings.HasPrefix(m.ID, last) {
			out = append(out, prefix+m.ID+"\t"+m.Title)
		}
	}
	sort.Strings(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeAlerts completes alert names that have a runbook.
func completeAlerts(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	books, err := rules.Runbooks()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []string
	for _, b := range books {
		if strings.HasPrefix(strings.ToLower(b.Alert), strings.ToLower(toComplete)) {
			desc := b.Summary
			if desc == "" {
				desc = "kubepatrol's own alert"
			}
			out = append(out, b.Alert+"\t"+desc)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeDiagnoseTarget completes the KIND/ part of diagnose's argument.
func completeDiagnoseTarget(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 || strings.Contains(toComplete, "/") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, k := range analysis.DiagnosableKinds {
		if strings.HasPrefix(k, strings.ToLower(toComplete)) {
			out = append(out, k+"/")
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeContexts completes kubeconfig context names.
func completeContexts(kf *genericclioptions.ConfigFlags) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		raw, err := kf.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, n := range contextNames(raw.Contexts) {
			if strings.HasPrefix(n, toComplete) {
				out = append(out, n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func fixedCompletion(vals ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return vals, cobra.ShellCompDirectiveNoFileComp
	}
}
