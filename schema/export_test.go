package schema

import "github.com/tether-dev/tether/schema/fastyaml"

// Test hooks for the external test package.

// LoadChunked is Load with YAML files of minBytes or more cut into chunks of about
// targetBytes, so tests can compare chunked and whole-file parsing.
func LoadChunked(path string, minBytes, targetBytes int) (*Fleet, Diagnostics) {
	yamlFiles, cueFiles, ds := fleetFiles(path)
	if len(ds) > 0 {
		return nil, ds.Sort()
	}
	var sources []yamlSource
	for _, file := range yamlFiles {
		data, d := readFleetFile(file)
		if d != nil {
			ds = append(ds, *d)
			continue
		}
		sources = append(sources, yamlSource{file, data})
	}
	return build(sources, cueFiles, ds, chunking{minBytes: minBytes, targetBytes: targetBytes})
}

// FastChunks cuts data into chunks as Load does (tiny: one entry a chunk) and says how
// many of them the fast YAML path parses, of how many.
func FastChunks(data []byte, tiny bool) (fast, total int) {
	ch := defaultChunking
	if tiny {
		ch = chunking{minBytes: 0, targetBytes: 1}
	}
	for _, c := range splitYAML("fleet.yaml", data, ch) {
		total++
		if _, ok := fastyaml.Parse(c.text); ok {
			fast++
		}
	}
	return fast, total
}

// ChunkTexts are the texts of the chunks Load parses data in.
func ChunkTexts(data []byte) [][]byte {
	var out [][]byte
	for _, c := range splitYAML("fleet.yaml", data, defaultChunking) {
		out = append(out, c.text)
	}
	return out
}
