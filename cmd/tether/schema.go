package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tether-dev/tether/schema"
)

func init() { subcommands = append(subcommands, plain(newSchemaCmd)) }

func newSchemaCmd() *cobra.Command {
	var jsonSchema, cueSchema bool
	cmd := &cobra.Command{
		Use:   "schema (--jsonschema | --cue)",
		Short: "Print the fleet schema: as JSON Schema for editors, or the CUE reference",
		Long: `Print the fleet schema Tether checks fleets against.

--jsonschema prints a JSON Schema (draft-07, what yaml-language-server implements)
of one fleet file, generated from the embedded CUE schema. Editors that use
yaml-language-server (VS Code's YAML extension, Neovim's yamlls, ...) then complete
and check fleet files as they are typed:

  tether schema --jsonschema > .tether/fleet.schema.json

and as the first line of each fleet file:

  # yaml-language-server: $schema=.tether/fleet.schema.json

It checks each file alone; the rules that join objects (references, linked nodes, DNS
clusters) need the whole fleet: run tether validate.

--cue prints the embedded CUE schema itself (the reference).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			switch {
			case jsonSchema == cueSchema:
				return errors.New("give exactly one of --jsonschema or --cue")
			case cueSchema:
				_, err := out.Write(schema.FleetCUE())
				return err
			}
			b, err := schema.JSONSchema()
			if err != nil {
				return fmt.Errorf("schema: %w", err)
			}
			_, err = out.Write(b)
			return err
		},
	}
	cmd.Flags().BoolVar(&jsonSchema, "jsonschema", false, "print a JSON Schema (draft-07) of a fleet file")
	cmd.Flags().BoolVar(&cueSchema, "cue", false, "print the embedded CUE schema")
	return cmd
}
