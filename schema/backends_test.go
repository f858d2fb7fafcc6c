package schema_test

// Schema names no member backend: each registers from its provider's folder. The
// fleets these tests load have cpanel and rfc2136 members, so the test binary
// registers the providers, as every program that loads fleets does. The internal
// tests (package schema) run in the same binary and see them too.
import _ "github.com/tether-dev/tether/providers/all"
