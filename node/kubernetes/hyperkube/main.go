// Command kube is the Kubernetes multicall binary: one executable holding kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl, so the image and the
// operator's machine carry the shared Kubernetes code once, at one pinned version. The applet is chosen by the first argument
// (`kube kubelet --version`) or, when invoked through a link, by the program name.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream mains do
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream mains do
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream mains do

	_ "time/tzdata" // CronJob time zones without a zoneinfo directory on the node

	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
)

// applets maps each applet name to its upstream cobra command constructor.
var applets = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 kubelet.NewKubeletCommand,
	"kube-proxy":              proxy.NewProxyCommand,
	// kubectl for operators (Debian's kubectl is too old for this apiserver).
	"kubectl": kubectl.NewDefaultKubectlCommand,
}

func usage() {
	names := make([]string, 0, len(applets))
	for n := range applets {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: kube <applet> [flags]; applets: %v\n", names)
}

func main() {
	args := os.Args
	name := filepath.Base(args[0])
	if _, ok := applets[name]; !ok {
		if len(args) < 2 {
			usage()
			os.Exit(2)
		}
		name, args = args[1], args[1:]
	}
	newCommand, ok := applets[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kube: unknown applet %q\n", name)
		usage()
		os.Exit(2)
	}
	// Applets read os.Args themselves (kubectl's plugin lookup does), so they see their own
	// argv as if invoked under their own name.
	os.Args = args
	cmd := newCommand()
	cmd.SetArgs(args[1:])
	if name == "kubectl" {
		// kubectl prints its own errors, in its own format, as upstream's kubectl main does.
		if err := cli.RunNoErrOutput(cmd); err != nil {
			kubectlutil.CheckErr(err)
		}
		return
	}
	os.Exit(cli.Run(cmd))
}
