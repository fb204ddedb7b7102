package cli

import "os"

// isCharDevice reports whether the file descriptor is a terminal-like device.
func isCharDevice(fd uintptr) bool {
	info, err := os.NewFile(fd, "").Stat()
	if err != nil {
		return false
	}
	return info.Mode()&os.ModeCharDevice != 0
}
