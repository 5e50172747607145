package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ownedProcesses lists the processes whose environment holds IHB_OWNER=<dir>: the commands the owner
// ran under this freeze and everything they started (children inherit the environment, so a tree is
// found even after its parent died). Processes this helper may not inspect are not ours.
func ownedProcesses(dir string) []int {
	marker := []byte("IHB_OWNER=" + dir)
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil || pid == self {
			continue
		}
		environ, err := os.ReadFile("/proc/" + entry.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, variable := range bytes.Split(environ, []byte{0}) {
			if bytes.Equal(variable, marker) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// killOwnedProcesses SIGKILLs the owned processes until none is left (a zombie's environment reads
// empty, so it no longer counts), or fails after wait.
func killOwnedProcesses(dir string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		pids := ownedProcesses(dir)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			list := make([]string, len(pids))
			for i, pid := range pids {
				list[i] = strconv.Itoa(pid)
			}
			return fmt.Errorf("processes of %s still running after %s: %s", dir, wait, strings.Join(list, " "))
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
