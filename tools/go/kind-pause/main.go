// The pod sandbox ("pause") process for the kind node image (issue 27), in Go instead of Kubernetes'
// build/pause/linux/pause.c so it builds with the pinned Go toolchain: it holds the pod's namespaces,
// reaps orphaned children (it is PID 1 when the pod shares its PID namespace) and exits on SIGINT/SIGTERM.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (infrahub-backup kind node image)")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
