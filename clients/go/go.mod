module github.com/imgforge/imgforge/clients/go

go 1.19

// The floors are the versions the checked-in code is generated and tested with (Debian
// bookworm's packages: protoc-gen-go v1.28.1, protoc-gen-go-grpc 1.0, grpc-go 1.33.3).
// Run `go mod tidy` once to fetch them and write go.sum.
require (
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
