// Package all imports every provider so each registers itself. cmd/tether imports
// this one package; adding a provider adds one line here and nothing elsewhere.
package all

import (
	_ "github.com/tether-dev/tether/providers/whm"
)
