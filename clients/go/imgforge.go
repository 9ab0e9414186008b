// Package imgforge is the small hand-written layer over the generated imgforgev1 stubs:
// image inputs from files or URLs and a GenerateCover helper that follows the progress
// stream. Request signing is in the signing package.
package imgforge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	pb "github.com/imgforge/imgforge/clients/go/imgforgev1"
	"google.golang.org/grpc"
)

// ImageInput turns a local file path or an http(s) URL into an ImageInput. A file's bytes
// are sent inline; a URL is fetched by the server. The server sniffs the format from the
// bytes, so names and extensions do not matter.
func ImageInput(source string) (*pb.ImageInput, error) {
	if strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://") {
		return &pb.ImageInput{Source: &pb.ImageInput_Url{Url: source}}, nil
	}
	data, err := os.ReadFile(source)
	if err != nil {
		return nil, fmt.Errorf("image file %q: %w", source, err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("image file %q is empty", source)
	}
	return BytesInput(data), nil
}

// BytesInput sends encoded image bytes inline.
func BytesInput(data []byte) *pb.ImageInput {
	return &pb.ImageInput{Source: &pb.ImageInput_Data{Data: data}}
}

// CoverFailedError is a stream that ended with a failed event.
type CoverFailedError struct {
	Code, Message string
}

func (e *CoverFailedError) Error() string {
	return fmt.Sprintf("cover generation failed (%s): %s", e.Code, e.Message)
}

// GenerateCover runs CoverService.GenerateCover and returns the completed event, passing
// every event (queued, running, preview) to onEvent first when it is not nil. A failed event
// is a *CoverFailedError; an RPC error (for example FAILED_PRECONDITION when the server has
// no generation backend) is returned as the gRPC status error.
func GenerateCover(ctx context.Context, client pb.CoverServiceClient, req *pb.GenerateCoverRequest,
	onEvent func(*pb.GenerateCoverResponse), opts ...grpc.CallOption) (*pb.CoverCompleted, error) {
	stream, err := client.GenerateCover(ctx, req, opts...)
	if err != nil {
		return nil, err
	}
	for {
		event, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the cover stream ended without a completed or failed event")
		}
		if err != nil {
			return nil, err
		}
		if onEvent != nil {
			onEvent(event)
		}
		switch e := event.Event.(type) {
		case *pb.GenerateCoverResponse_Completed:
			return e.Completed, nil
		case *pb.GenerateCoverResponse_Failed:
			return nil, &CoverFailedError{Code: e.Failed.Code, Message: e.Failed.Message}
		}
	}
}
