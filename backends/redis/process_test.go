package redis_test

const workerEnv = "LIVEDICT_REDIS_WORKER"

func runWorker(role string) int { return 2 }
