//go:build !unix

package throughput

import "time"

// processCPU is not measured here: TestRotate reports CPU per operation as 0.
func processCPU() time.Duration { return 0 }
