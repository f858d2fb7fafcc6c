package schema

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
