package schema

// Test hooks for the external test package.

// SetChunking sets the sizes at which YAML files are cut into chunks and returns a
// function restoring the previous ones.
func SetChunking(minBytes, targetBytes int) (restore func()) {
	oldMin, oldTarget := chunkMinBytes, chunkTargetBytes
	chunkMinBytes, chunkTargetBytes = minBytes, targetBytes
	return func() { chunkMinBytes, chunkTargetBytes = oldMin, oldTarget }
}
