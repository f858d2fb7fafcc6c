// Package layers has no code: its test keeps the imports between Tether's top-level
// folders flowing one way, so the flow the packages show is the flow the program has:
//
//	schema ← reconciler ← providers ← internal ← cmd
//
// schema is the model, loaders and rules; reconciler is the pure planner (no
// providers, no internal, so no I/O of ours); providers are the contract, the
// registry and one folder per provider (none imports another, none imports
// internal); internal is the engine, the application layer, state, sandbox and
// the rest; cmd is flags, output and wiring.
package layers
