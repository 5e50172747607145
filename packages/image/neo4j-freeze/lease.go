package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// lease is the owner's promise to be alive: DIR/lease, touched by the owner more often than ttl.
type lease struct {
	dir string
	ttl time.Duration
}

func newLease(dir string, ttl time.Duration) *lease {
	return &lease{dir: dir, ttl: ttl}
}

func (l *lease) path() string { return filepath.Join(l.dir, "lease") }

// renew starts the lease at arming, so an owner that dies before its first renewal is noticed too.
func (l *lease) renew() error {
	now := time.Now()
	if err := os.WriteFile(l.path(), nil, 0o600); err != nil {
		return fmt.Errorf("write lease file: %w", err)
	}
	return os.Chtimes(l.path(), now, now)
}

// expired: the lease file is older than the TTL, or gone (the owner removed its work directory).
func (l *lease) expired() bool {
	info, err := os.Stat(l.path())
	if err != nil {
		return true
	}
	return time.Since(info.ModTime()) > l.ttl
}

// expire ends what a vanished owner left behind, in the order that keeps the store consistent: its
// commands on the store are killed (they hold the store lock), the owner's rollback script runs (e.g.
// putting the previous store back in place of a half-loaded one), then the JVM resumes and the work
// directory goes.
func (l *lease) expire(pid int, frozen bool) {
	fmt.Fprintf(os.Stderr, "neo4j-freeze: the owner's lease in %s is older than %s; cleaning up\n", l.dir, l.ttl)
	if err := killOwnedProcesses(l.dir, 10*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "neo4j-freeze:", err)
	}
	if frozen {
		script := filepath.Join(l.dir, "on-expiry")
		if _, err := os.Stat(script); err == nil {
			if err := runWithTimeout(exec.Command("/bin/sh", script), 10*time.Minute); err != nil {
				fmt.Fprintln(os.Stderr, "neo4j-freeze: on-expiry script failed:", err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "neo4j-freeze: on-expiry script:", err)
		}
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			fmt.Fprintf(os.Stderr, "neo4j-freeze: SIGCONT %d: %v\n", pid, err)
		}
	}
	if err := os.RemoveAll(l.dir); err != nil {
		fmt.Fprintln(os.Stderr, "neo4j-freeze: removing the work directory:", err)
	}
}

func runWithTimeout(cmd *exec.Cmd, timeout time.Duration) error {
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		return fmt.Errorf("still running after %s; killed", timeout)
	}
}
