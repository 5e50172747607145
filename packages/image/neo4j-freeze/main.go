// neo4j-freeze stops (SIGSTOP) the Neo4j JVM at the very end of a clean shutdown: after the store
// is closed and the pid file removed, before the process exits. In a container whose main process is
// Neo4j, this keeps the container alive with the database files unlocked, so neo4j-admin can dump or
// load them offline. Sending SIGCONT afterwards lets the JVM exit and the container restart policy
// bring Neo4j back.
//
// Usage:
//
//	neo4j-freeze --pid-file PIDFILE --ready-file FILE [--timeout 15m] [--max-frozen 6h]
//	             [--work-dir DIR --lease-ttl 20s]
//	neo4j-freeze --kill-owned DIR
//
// It prints the frozen pid on stdout once the JVM is stopped. It exits non-zero (and freezes nothing)
// when the pid file is missing or invalid, or when no shutdown happens before --timeout, so a
// forgotten helper can never freeze a later, unrelated shutdown. After freezing it stays until the JVM
// is resumed or gone; if nobody resumes it within --max-frozen, it sends SIGCONT itself.
//
// With --work-dir and --lease-ttl the freeze lives only as long as its owner: the owner (the backup
// tool) touches DIR/lease more often than the TTL. When the lease goes stale — the tool was killed,
// its node lost, its connection cut — the helper ends what the tool left behind (see expire) and
// resumes Neo4j within about one TTL, whether or not it had frozen it yet.
//
// --kill-owned DIR kills every process whose environment holds IHB_OWNER=DIR (the commands the tool
// ran on the store under this freeze, and their children) and waits until they are gone: the store
// lock must be free before Neo4j starts again.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	pidFile := flag.String("pid-file", "/var/lib/neo4j/run/neo4j.pid", "Neo4j pid file")
	readyFile := flag.String("ready-file", "", "file written once the watch is armed")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up (without freezing) after this long")
	maxFrozen := flag.Duration("max-frozen", 6*time.Hour, "resume the JVM if still frozen after this long")
	workDir := flag.String("work-dir", "", "the owner's work directory (lease, on-expiry script, owned processes)")
	leaseTTL := flag.Duration("lease-ttl", 0, "with --work-dir: resume Neo4j when DIR/lease is older than this")
	killOwned := flag.String("kill-owned", "", "kill the processes owned by this work directory and exit")
	flag.Parse()
	if *killOwned != "" {
		if err := killOwnedProcesses(*killOwned, 10*time.Second); err != nil {
			fail(err)
		}
		return
	}
	var lease *lease
	if *leaseTTL > 0 {
		if *workDir == "" {
			fail(errors.New("--lease-ttl needs --work-dir"))
		}
		lease = newLease(*workDir, *leaseTTL)
	}
	if err := run(*pidFile, *readyFile, *timeout, *maxFrozen, lease); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "neo4j-freeze:", err)
	os.Exit(1)
}

func run(pidFile, readyFile string, timeout, maxFrozen time.Duration, lease *lease) error {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("pid file %s does not hold a valid pid: %q", pidFile, strings.TrimSpace(string(raw)))
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return fmt.Errorf("process %d from %s is not running: %w", pid, pidFile, err)
	}

	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("inotify_init1: %w", err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, pidFile, syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF|syscall.IN_ATTRIB); err != nil {
		return fmt.Errorf("watch %s: %w", pidFile, err)
	}
	if lease != nil {
		if err := lease.renew(); err != nil {
			return err
		}
	}
	if readyFile != "" {
		if err := os.WriteFile(readyFile, []byte("ready\n"), 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
	}

	deadline := time.Now().Add(timeout)
	buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return errors.New("timed out waiting for Neo4j to shut down; nothing was frozen")
		}
		if lease != nil && lease.expired() {
			// The owner is gone before the JVM stopped: nothing is frozen; end what it left running.
			lease.expire(pid, false)
			return errors.New("the owner's lease expired before Neo4j shut down; nothing was frozen")
		}
		if ready, err := waitReadable(fd, remaining); err != nil {
			return err
		} else if !ready {
			continue
		}
		n, err := syscall.Read(fd, buf)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return fmt.Errorf("read inotify: %w", err)
		}
		if gone := pidFileGone(buf[:n], pidFile); gone {
			break
		}
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP %d: %w", pid, err)
	}
	fmt.Println(pid)
	guard(pid, maxFrozen, lease)
	return nil
}

// guard waits while the process stays stopped; past the deadline, or once the owner's lease is stale,
// it resumes it.
func guard(pid int, maxFrozen time.Duration, lease *lease) {
	deadline := time.Now().Add(maxFrozen)
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		if !stopped(pid) {
			return
		}
		if lease != nil && lease.expired() {
			lease.expire(pid, true)
			return
		}
	}
	if stopped(pid) {
		fmt.Fprintf(os.Stderr, "neo4j-freeze: %d still frozen after %s, resuming it\n", pid, maxFrozen)
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
}

// stopped reports whether /proc/<pid>/status says the process is in state T (stopped).
func stopped(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "State:") {
			return strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(line, "State:")), "T")
		}
	}
	return false
}

// pidFileGone reports whether the events mean the pid file was removed or moved away.
// IN_ATTRIB alone (link count change on unlink while open) is confirmed by checking the path.
func pidFileGone(events []byte, pidFile string) bool {
	for offset := 0; offset+syscall.SizeofInotifyEvent <= len(events); {
		event := (*syscall.InotifyEvent)(unsafe.Pointer(&events[offset]))
		if event.Mask&(syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF) != 0 {
			return true
		}
		if event.Mask&syscall.IN_ATTRIB != 0 {
			if _, err := os.Stat(pidFile); errors.Is(err, os.ErrNotExist) {
				return true
			}
		}
		offset += syscall.SizeofInotifyEvent + int(event.Len)
	}
	return false
}

func waitReadable(fd int, timeout time.Duration) (bool, error) {
	var set syscall.FdSet
	set.Bits[fd/64] |= 1 << (uint(fd) % 64)
	tv := syscall.NsecToTimeval(min(timeout, 500*time.Millisecond).Nanoseconds())
	n, err := syscall.Select(fd+1, &set, nil, nil, &tv)
	if err != nil {
		if errors.Is(err, syscall.EINTR) {
			return false, nil
		}
		return false, fmt.Errorf("select: %w", err)
	}
	return n > 0, nil
}
