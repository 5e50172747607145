// ihb-runc: dockerd's default runtime on hosts whose capability bounding set lacks CAP_SYS_RESOURCE
// (bit 24; seen on the project's CI machines: CapBnd 000001fffeffffff). runc refuses to start a process
// asked to hold a capability the host cannot grant ("unable to apply caps: operation not permitted"),
// which is what `docker run --privileged` and `docker exec --privileged` ask for. This wrapper removes
// that one capability from the request and execs the real runc:
//   - `runc create|run [--bundle DIR]`: from DIR/config.json (process.capabilities.*);
//   - `runc exec --process FILE`: from FILE (capabilities.*), the spec of `docker exec`.
//
// On a host that has the capability it changes nothing. Everything else is passed through untouched.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const missingCap = "CAP_SYS_RESOURCE"
const missingCapBit = 24

// Global runc flags that take a separate value (`--root DIR`), so the value is not the command.
var globalValueFlags = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

func main() {
	real, err := realRunc()
	if err != nil {
		fail(err)
	}
	args := os.Args[1:]
	if !hostHasCap(missingCapBit) {
		if err := dropFromRequest(args); err != nil {
			fail(err)
		}
	}
	if err := syscall.Exec(real, append([]string{"runc"}, args...), os.Environ()); err != nil {
		fail(fmt.Errorf("exec %s: %w", real, err))
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "ihb-runc: %v\n", err)
	os.Exit(1)
}

// realRunc finds runc on PATH (or IHB_REAL_RUNC), never this wrapper itself.
func realRunc() (string, error) {
	if path := os.Getenv("IHB_REAL_RUNC"); path != "" {
		return path, nil
	}
	self, _ := os.Executable()
	self, _ = filepath.EvalSymlinks(self)
	for _, dir := range filepath.SplitList(os.Getenv("PATH") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
		candidate := filepath.Join(dir, "runc")
		resolved, err := filepath.EvalSymlinks(candidate)
		if err != nil || resolved == self {
			continue
		}
		if info, err := os.Stat(resolved); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("runc not found on PATH")
}

// hostHasCap reads this process's bounding set: what the host can grant at most.
func hostHasCap(bit uint) bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true // cannot tell: change nothing
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err != nil || mask&(1<<bit) != 0
		}
	}
	return true
}

// dropFromRequest edits the spec file the runc command reads, when it is create/run/exec.
func dropFromRequest(args []string) error {
	command, rest := splitCommand(args)
	switch command {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = "."
		}
		return editSpec(filepath.Join(bundle, "config.json"), "process", "capabilities")
	case "exec":
		if process := flagValue(rest, "--process", "-p"); process != "" {
			return editSpec(process, "capabilities")
		}
	}
	return nil
}

func splitCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") {
			return arg, args[i+1:]
		}
		if globalValueFlags[arg] {
			i++
		}
	}
	return "", nil
}

func flagValue(args []string, long, short string) string {
	for i, arg := range args {
		if arg == "--" {
			break
		}
		if (arg == long || arg == short) && i+1 < len(args) {
			return args[i+1]
		}
		for _, name := range []string{long, short} {
			if value, ok := strings.CutPrefix(arg, name+"="); ok {
				return value
			}
		}
	}
	return ""
}

// editSpec removes missingCap from every list in the object at path (keys) of the JSON file, keeping
// numbers exact (UseNumber) and rewriting the file only when something changed.
func editSpec(file string, path ...string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	var spec map[string]any
	if err := decoder.Decode(&spec); err != nil {
		return fmt.Errorf("parsing %s: %w", file, err)
	}
	node := spec
	for _, key := range path {
		next, ok := node[key].(map[string]any)
		if !ok {
			return nil
		}
		node = next
	}
	changed := false
	for key, value := range node {
		list, ok := value.([]any)
		if !ok {
			continue
		}
		kept := list[:0:0]
		for _, item := range list {
			if item == missingCap {
				changed = true
				continue
			}
			kept = append(kept, item)
		}
		node[key] = kept
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	info, err := os.Stat(file)
	if err != nil {
		return err
	}
	tmp := file + ".ihb-runc"
	if err := os.WriteFile(tmp, out, info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
