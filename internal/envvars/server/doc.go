// Package server keeps a tool's environment variables and serves the
// envvars API (/envvars/v1): one Secret (tenancy.EnvvarsSecret) in the
// tool's namespace with a data key per variable, which the admission layer
// injects into the tool's pods. One Secret rather than one per variable
// leaves the tool's Secret quota to the tool. Values are never logged.
package server
