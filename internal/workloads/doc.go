// Package workloads holds the end-to-end tests of what tools run, on a
// devcluster with a real node: jobs' commands, their logs and log files,
// exit codes, health checks, ports and published jobs, memory limits,
// environment variables, web services of the catalogue's types answering
// through the ingress, interactive shells and job notifications by mail.
// Each test acts as a tool with the real CLI, against the real `toolforged
// all`, and is proven by what the tool's code printed, wrote or served.
package workloads
