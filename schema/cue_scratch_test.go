package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestScratch(t *testing.T) {
	files, _ := filepath.Glob(os.Getenv("D") + "/*.cue")
	f, ds := loadCUE(files)
	for _, d := range ds {
		fmt.Println(d)
	}
	if f != nil {
		fmt.Printf("%d nodes %d acc %d res %d dns\n", len(f.Nodes), len(f.Accounts), len(f.Resellers), len(f.DNSClusters))
		fmt.Printf("%+v\n%+v\n%+v\n", f.Accounts["alice"], f.Nodes["mail1"], f.DNSClusters["web1"])
	}
}
