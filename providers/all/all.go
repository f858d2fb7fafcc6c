// Package all imports every provider so each registers itself. Programs import this
// one package; adding a provider adds its folder and one line here, and
// providers/registry_test.go checks that every provider folder is listed.
package all

import (
	_ "github.com/tether-dev/tether/providers/rfc2136"
	_ "github.com/tether-dev/tether/providers/whm"
)
