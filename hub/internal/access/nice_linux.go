package access

import (
	"os"
	"strconv"
	"syscall"
)

// lowerPriority sets nice 19 on every thread of the process. Linux keeps a
// nice value per thread, and a new thread takes its creator's: once every
// thread is lowered, the runtime's later threads are too.
func lowerPriority() error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var first error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, 19); err != nil && first == nil {
			first = err
		}
	}
	return first
}
