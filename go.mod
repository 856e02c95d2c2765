module github.com/raftkube/raftkube

go 1.26

require (
	github.com/cockroachdb/datadriven v1.0.3
	google.golang.org/protobuf v1.36.12
)

require github.com/pmezard/go-difflib v1.0.0 // indirect
