package state

// PauseLock stops renewing an etcd lock's lease, as a process paused (SIGSTOP, a
// stopped VM) or cut off from etcd stops: the lease expires after its TTL while the
// holder still has the lock in hand and may still write.
func PauseLock(u Unlocker) { u.(*etcdLock).sess.Orphan() }
