// Streams a cover generation and prints each progress event. The attributes are codes from
// ListCoverOptions. Until the server has a generation backend configured, the call fails with
// a status naming what to configure.
//
//	go run ./examples/cover -addr 127.0.0.1:50051 -out cover.png
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"time"

	imgforge "github.com/imgforge/imgforge/clients/go"
	pb "github.com/imgforge/imgforge/clients/go/imgforgev1"
	"github.com/imgforge/imgforge/clients/go/signing"
	"google.golang.org/grpc"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "imgforge gRPC address")
	out := flag.String("out", "cover.png", "where to write the cover")
	flag.Parse()

	conn, err := grpc.Dial(*addr, grpc.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	req := &pb.GenerateCoverRequest{
		Gender: pb.Gender_GENDER_FEMALE, Age: "18-25", Ethnicity: "Asian", BodyType: "Slim",
		BreastSize: "Medium", ButtSize: "Medium", HairColor: "black", HairStyle: "Long",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Second)
	defer cancel()
	// Server-streaming calls are signed through the context (the interceptor covers unary ones).
	if key := os.Getenv("IMGFORGE_KEY"); key != "" {
		creds := signing.Credentials{Key: key, Secret: os.Getenv("IMGFORGE_SECRET"), User: os.Getenv("IMGFORGE_USER")}
		if ctx, err = creds.Context(ctx, "/imgforge.v1.CoverService/GenerateCover", req); err != nil {
			log.Fatal(err)
		}
	}
	done, err := imgforge.GenerateCover(ctx, pb.NewCoverServiceClient(conn), req, func(e *pb.GenerateCoverResponse) {
		switch ev := e.Event.(type) {
		case *pb.GenerateCoverResponse_Queued:
			log.Printf("queued, %d ahead", ev.Queued.Position)
		case *pb.GenerateCoverResponse_Running:
			log.Printf("running %.0f%% (%s)", ev.Running.Percent, ev.Running.Stage)
		case *pb.GenerateCoverResponse_Preview:
			log.Printf("preview %dx%d", ev.Preview.Image.GetWidth(), ev.Preview.Image.GetHeight())
		case *pb.GenerateCoverResponse_Completed:
			log.Printf("completed %dx%d", ev.Completed.Image.GetWidth(), ev.Completed.Image.GetHeight())
		}
	}, grpc.MaxCallRecvMsgSize(64<<20))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, done.Image.GetData(), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("cover %s (valid until %s) written to %s", done.CoverId, done.ExpiresAt.AsTime(), *out)
}
